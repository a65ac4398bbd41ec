// The console works without this script; it only opens a state's input and output when its node in the
// graph is clicked (the link goes to the state's section, which this opens and scrolls to).
"use strict";
function openState() {
  if (!location.hash) return;
  const el = document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (el && el.tagName === "DETAILS") {
    el.open = true;
    el.scrollIntoView({block: "start"});
  }
}
window.addEventListener("hashchange", openState);
document.addEventListener("DOMContentLoaded", openState);
