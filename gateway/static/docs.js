// The API documentation page: Swagger UI from the gateway itself (the fastapi-offline package's Swagger UI 5),
// on the gateway's own OpenAPI document. No inline script, so the page keeps a strict CSP.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
