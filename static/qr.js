// The QR code of the server's address on the local network, so that a phone can open the page.
import { $ } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const QUIET_ZONE = 4;

// One <path> of unit squares: crisp at any size, and drawn with the page's colours.
function qrSvg(qrcode, text) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const count = qr.getModuleCount();
  let d = "";
  for (let row = 0; row < count; row++) {
    for (let col = 0; col < count; col++) if (qr.isDark(row, col)) d += `M${col + QUIET_ZONE},${row + QUIET_ZONE}h1v1h-1z`;
  }
  const size = count + 2 * QUIET_ZONE;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}

// Offered only when the server listens on a non-loopback address and says so in data-lan-url.
export function setUpQrCode() {
  const url = document.body.dataset.lanUrl;
  const button = $("show-qr");
  if (!url) return;
  button.hidden = false;
  // The encoder is fetched on the first click: few people open the dialog, and every page would compile it.
  button.addEventListener("click", async () => {
    const { default: qrcode } = await import("./vendor/qrcode-generator/qrcode.js");
    // A second click made while the encoder was loading finds the dialog open already.
    if ($("qr-dialog").open) return;
    $("qr-code").replaceChildren(qrSvg(qrcode, url));
    $("qr-url").textContent = url;
    $("qr-dialog").showModal();
  });
}
