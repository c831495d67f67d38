// The citizen portal works without this script; with it, webcam pictures refresh every few
// seconds (the server takes each camera's picture at most once per few seconds however many
// people look). No cookies, no storage, nothing from elsewhere.
const REFRESH_MS = 5000;

function refreshWebcams() {
  for (const img of document.querySelectorAll('img.webcam')) {
    const base = img.getAttribute('src').split('?')[0];
    const next = new Image();
    next.onload = () => { img.src = next.src; };
    next.src = `${base}?t=${Math.floor(Date.now() / REFRESH_MS)}`;
  }
}

if (document.querySelector('img.webcam')) {
  setInterval(refreshWebcams, REFRESH_MS);
}
