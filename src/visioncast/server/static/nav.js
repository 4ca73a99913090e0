// The phone menu: below 48rem the navigation folds behind the "Menu" button (app.css, .has-menu) and opens
// as a grid showing every page. Without this script the list simply wraps, every link still on screen.
const header = document.querySelector(".site-header");
const button = document.getElementById("menu-button");

function setOpen(open) {
  header.classList.toggle("menu-open", open);
  button.setAttribute("aria-expanded", String(open));
}

if (header && button) {
  button.hidden = false;
  header.classList.add("has-menu");
  button.addEventListener("click", () => setOpen(button.getAttribute("aria-expanded") !== "true"));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && header.classList.contains("menu-open")) {
      setOpen(false);
      button.focus();
    }
  });
}
