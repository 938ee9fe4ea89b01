// socket.io-client 4's io(url, opts) for the browser build, without the package index,
// which re-exports (and so loads) engine.io-client's every transport. The shim always asks
// for a new Manager (forceNew), so the index's Manager cache has nothing to do.
import { Manager } from "socket.io-client/build/esm/manager.js";
import { url } from "socket.io-client/build/esm/url.js";

export function io(uri, opts) {
  const parsed = url(uri, opts.path || "/socket.io");
  if (parsed.query && !opts.query) opts.query = parsed.queryKey;
  return new Manager(parsed.source, opts).socket(parsed.path, opts);
}
