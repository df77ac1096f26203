// Starts Swagger UI on /docs. A file rather than an inline script, so the docs page keeps a
// Content-Security-Policy without 'unsafe-inline' for scripts, like every other page.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
