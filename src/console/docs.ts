// Swagger UI's start-up, as an external script: the page's CSP allows no inline script.
declare const SwaggerUIBundle: (options: { url: string; dom_id: string; deepLinking: boolean }) => unknown;

SwaggerUIBundle({ url: "/v1/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
