// GraphiQL against this API's /graphql. Queries need a bearer token: put
// {"Authorization": "Bearer <token>"} in the Headers tab (`llm-observatory token`).
(function () {
  "use strict";
  var example = [
    "# LLM Observatory GraphQL. Send your token in the Headers tab below:",
    '#   {"Authorization": "Bearer <token from llm-observatory token>"}',
    "{",
    "  traces(first: 5) {",
    "    items { traceId rootName service startTime durationMs costUsd status }",
    "    nextCursor",
    "  }",
    "}",
    "",
  ].join("\n");
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: example,
      defaultHeaders: '{"Authorization": "Bearer "}',
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    })
  );
})();
