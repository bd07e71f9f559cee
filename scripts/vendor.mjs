// Copies the page's browser libraries from node_modules/ into static/vendor/ with their licences.
// Run `npm install && npm run vendor` after changing a version in package.json; the copies are committed,
// so running the app needs neither Node nor a build step.
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const vendor = join(root, "static", "vendor");

// ES modules are renamed to .js: not every Python's mimetypes knows .mjs, and browsers refuse a module served
// with another type. `licences: null` means the package ships its licence only as the comment opening its source.
const PACKAGES = [
  { name: "markdown-it", dir: "markdown-it", files: { "dist/browser/markdown-it.esm.min.mjs": "markdown-it.js" }, licences: ["LICENSE"] },
  { name: "dompurify", dir: "dompurify", files: { "dist/purify.es.mjs": "purify.js" }, licences: ["LICENSE", "LICENSE-MPL"] },
  { name: "@highlightjs/cdn-assets", dir: "highlight.js", files: { "es/highlight.min.js": "highlight.js" }, licences: ["LICENSE"] },
  {
    name: "katex",
    dir: "katex",
    files: { "dist/katex.mjs": "katex.js", "dist/katex.min.css": "katex.min.css", "dist/fonts": "fonts" },
    licences: ["LICENSE"],
  },
  { name: "qrcode-generator", dir: "qrcode-generator", files: { "dist/qrcode.mjs": "qrcode.js" }, licences: null },
];

function copy(from, to) {
  cpSync(from, to, { recursive: true });
  if (!/\.(m?js|css)$/.test(from)) return;
  const map = readFileSync(from, "utf8").match(/sourceMappingURL=(\S+)/);
  if (map && existsSync(join(dirname(from), map[1]))) copyFileSync(join(dirname(from), map[1]), join(dirname(to), map[1]));
}

function headerComment(path) {
  return readFileSync(path, "utf8").match(/^(\/\/.*\n)+/)[0].replace(/^\/\/ ?/gm, "");
}

rmSync(vendor, { recursive: true, force: true });
const versions = [];
for (const { name, dir, files, licences } of PACKAGES) {
  const source = join(root, "node_modules", name);
  const target = join(vendor, dir);
  const meta = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));
  mkdirSync(target, { recursive: true });
  for (const [from, to] of Object.entries(files)) copy(join(source, from), join(target, to));
  if (licences) for (const licence of licences) copyFileSync(join(source, licence), join(target, licence));
  else writeFileSync(join(target, "LICENSE"), headerComment(join(source, Object.keys(files)[0])));
  versions.push(`${meta.name} ${meta.version} (${meta.license}) -> static/vendor/${dir}/`);
}
writeFileSync(join(vendor, "VERSIONS.txt"), `Copied by scripts/vendor.mjs from the npm registry:\n${versions.join("\n")}\n`);
console.log(versions.join("\n"));
