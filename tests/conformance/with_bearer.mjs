// Preloaded (`node --import`) into the MCP conformance suite, whose server mode has no
// option for credentials: every HTTP request the process makes (the TypeScript SDK
// client's fetch and the suite's own undici requests share undici's global dispatcher)
// carries `Authorization: Bearer $PROMPTSALES_CONFORMANCE_BEARER`, as any MCP client
// holding a token sends it. The server under test stays exactly as deployed: HTTPS (its
// CA comes from NODE_EXTRA_CA_CERTS) and authentication required.
//
// TLS verifies the server against the host of the URL being called, as curl and httpx do.
// undici would verify against a Host header the request sets, so the scenario that sends
// `Host: evil.example.com` (to see the server's own Host check refuse it) would stop at
// the client's certificate check and never reach the server. Call a host name (the test
// server's certificate names `localhost`); TLS has no server name for an IP address.
import { isIP } from "node:net";
import { Agent, setGlobalDispatcher } from "undici";

const token = process.env.PROMPTSALES_CONFORMANCE_BEARER;
if (!token) {
  console.error("with_bearer.mjs: PROMPTSALES_CONFORMANCE_BEARER is not set");
  process.exit(2);
}
const authorization = `Bearer ${token}`;

/** The request's headers with Authorization set (undici passes arrays, objects or iterables). */
function withAuthorization(headers) {
  const out = [];
  const add = (name, value) => {
    if (String(name).toLowerCase() !== "authorization") out.push(String(name), value);
  };
  if (Array.isArray(headers)) {
    if (headers.length && Array.isArray(headers[0])) {
      for (const [name, value] of headers) add(name, value);
    } else {
      for (let i = 0; i < headers.length; i += 2) add(headers[i], headers[i + 1]);
    }
  } else if (headers && typeof headers[Symbol.iterator] === "function") {
    for (const [name, value] of headers) add(name, value);
  } else if (headers) {
    for (const [name, value] of Object.entries(headers)) add(name, value);
  }
  out.push("authorization", authorization);
  return out;
}

/** The host name TLS verifies: the called URL's, never one from a request header. */
function urlServerName(origin) {
  const hostname = new URL(String(origin)).hostname;
  return isIP(hostname.replace(/^\[|\]$/g, "")) ? undefined : hostname;
}

const agent = new Agent().compose((dispatch) => (options, handler) => {
  const servername = urlServerName(options.origin);
  return dispatch(
    {
      ...options,
      headers: withAuthorization(options.headers),
      ...(servername && { servername }),
    },
    handler,
  );
});
setGlobalDispatcher(agent);
