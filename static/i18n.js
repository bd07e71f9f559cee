// The page's strings in the page's language: the server hands over the catalog of every _("…") in static/*.js.
const catalog = JSON.parse(document.getElementById("messages-catalog").textContent);

// Same placeholders as Python's gettext: %(name)s.
export function _(msgid, values = {}) {
  return (catalog[msgid] || msgid).replace(/%\((\w+)\)s/g, (match, key) => String(values[key]));
}
