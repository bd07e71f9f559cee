// The page's strings and numbers in the page's language.

// The server puts into the page the translations of every _("…") and ngettext("…") in static/*.js.
const catalog = JSON.parse(document.getElementById("messages-catalog").textContent);
// For each singular msgid, its form for each plural category of the language (Intl.PluralRules' names).
const plurals = JSON.parse(document.getElementById("plurals-catalog").textContent);
const language = document.documentElement.lang;
// Intl's objects cost milliseconds to make (the language's data is loaded for the first one), so each is made at its
// first use, not while the page starts.
const once = (make) => {
  let made = null;
  return () => (made ??= make());
};
const pluralRules = once(() => new Intl.PluralRules(language));
const numbers = once(() => new Intl.NumberFormat(language));
const oneDecimal = once(() => new Intl.NumberFormat(language, { minimumFractionDigits: 1, maximumFractionDigits: 1 }));

// Same placeholders as Python's gettext: %(name)s.
const fill = (text, values) => text.replace(/%\((\w+)\)s/g, (match, key) => String(values[key]));

export function _(msgid, values = {}) {
  return fill(catalog[msgid] || msgid, values);
}

// The form of a message for the number `n` (a count), as gettext's ngettext picks it.
export function ngettext(singular, plural, n, values = {}) {
  const forms = plurals[singular] || {};
  return fill(forms[pluralRules().select(n)] ?? forms.other ?? (n === 1 ? singular : plural), values);
}

// A number as the page's language writes it (2,048 or 2 048); with `decimal`, to one decimal (58.5 or 58,5).
export function formatNumber(n, { decimal = false } = {}) {
  return (decimal ? oneDecimal : numbers)().format(n);
}

// Bytes in decimal units as Ollama counts them, to one decimal (4.7 GB, 4,7 ГБ).
// One formatter a unit, made at its first use (a list of models formats a size a row). Intl's short English byte is
// "139 byte", so bytes alone are the catalog's symbol (139 B, 139 Б).
const UNITS = ["kilobyte", "megabyte", "gigabyte", "terabyte"].map((unit) =>
  once(() => new Intl.NumberFormat(language, { style: "unit", unit, unitDisplay: "short", maximumFractionDigits: 1 })),
);
export function formatSize(bytes) {
  const power = Math.min(UNITS.length, Math.max(0, Math.floor(Math.log10(Math.max(bytes, 1)) / 3)));
  if (power === 0) return _("%(n)s B", { n: formatNumber(bytes) });
  return UNITS[power - 1]().format(bytes / 1000 ** power);
}

// A share from 0 to 1 as a whole percentage (42%, 42 %).
const percent = once(() => new Intl.NumberFormat(language, { style: "percent" }));
export function formatPercent(share) {
  return percent().format(share);
}
