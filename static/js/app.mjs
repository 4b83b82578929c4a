// Progressive enhancement only: every page works without this file.
import { initAll } from "/static/build/govuk/govuk-frontend.min.js";

initAll();
