// The interactive API reference at /docs/: Swagger UI (vendored in
// pwa/vendor/swagger-ui/, no CDN) reading this server's /openapi.json. Every
// file it needs comes from this origin; nothing leaves the server.

import { addStrings, applyTranslations, setLanguage } from "/shared/i18n.js";

addStrings({
  zh: {
    "docs.title": "接口参考",
    "docs.help": "下面的每个接口都可以在此直接调用：点击 Authorize，粘贴令牌（mst_…）。",
  },
  en: {
    "docs.title": "API reference",
    "docs.help": "Every call below can be tried here: press Authorize and paste a token (mst_…).",
  },
});

// The organiser console keeps its token here (pwa/console/js/session.js):
// a signed-in organiser finds the reference signed in too.
const CONSOLE_TOKEN_KEY = "muster.console.token";

function startReference() {
  const ui = window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#api",
    deepLinking: true,
    // Off: by default Swagger UI sends the document to validator.swagger.io
    // and shows that site's badge.
    validatorUrl: null,
    // No tracking or remote config of any kind.
    queryConfigEnabled: false,
    // Once the document is read (before, there is no "bearer" scheme to fill in).
    onComplete: () => {
      const token = localStorage.getItem(CONSOLE_TOKEN_KEY);
      if (token) ui.preauthorizeApiKey("bearer", token);
    },
  });
  return ui;
}

for (const button of document.querySelectorAll("[data-lang]")) {
  button.addEventListener("click", () => setLanguage(button.dataset.lang));
}
applyTranslations();
window.musterReference = startReference();
