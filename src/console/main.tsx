import { render } from "hono/jsx/dom";
import { App } from "./app";
import "./styles/base.css";
import "./styles/pages.css";
import "./styles/subscriptions.css";
import "./styles/trail.css";
import "./styles/narrow-and-live.css";

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
