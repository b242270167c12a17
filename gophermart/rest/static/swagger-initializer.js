// Starts Swagger UI on the service's own OpenAPI document; every asset comes from this server.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The online validator badge would call validator.swagger.io: keep the page offline.
    validatorUrl: null,
    // Let "Try it out" send the gophermart_token cookie that login/register set.
    withCredentials: true,
    // Keep a pasted Bearer token across page reloads.
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
