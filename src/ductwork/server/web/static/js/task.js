// Task pages: the console, charts and plots of the open tab.
import { initPanels } from "/static/js/panels.js";

initPanels(document);
