// Writes THIRD_PARTY_NOTICES for the npm package: the licence of every package the bundle in
// dist/ includes (socket.io-client 4 and its dependencies, all MIT), whose terms ask for
// their notices to travel with copies. `npm pack` runs it (prepack), from the same build
// options as dist/, so the list follows what the bundle really holds.
import { build } from "esbuild";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOptions } from "./build.mjs";

const here = dirname(fileURLToPath(import.meta.url));

export async function bundledPackages() {
  const names = new Set();
  for (const opts of buildOptions()) {
    const { metafile } = await build({ ...opts, metafile: true });
    for (const input of Object.keys(metafile.inputs)) {
      const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
      if (m) names.add(m[1]);
    }
  }
  return [...names].sort();
}

export async function notices() {
  const parts = ["The pushpoll-client bundle (dist/) includes the following packages, under these licences.\n"];
  for (const name of await bundledPackages()) {
    const dir = join(here, "node_modules", name);
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const files = readdirSync(dir).filter((f) => /^(licen[cs]e|copying)/i.test(f)).sort();
    parts.push(`== ${name}@${pkg.version} (${licence(dir, pkg)})`);
    if (files.length === 0) {
      // Some old packages state their licence only in their metadata or README: carry that.
      const author = typeof pkg.author === "string" ? pkg.author : pkg.author?.name;
      if (author) parts.push(`Author: ${author}`);
      parts.push((readmeLicence(dir) ?? "No licence file in the package.") + "\n");
    }
    for (const f of files) parts.push(readFileSync(join(dir, f), "utf8").trimEnd() + "\n");
  }
  return parts.join("\n");
}

// The licence the package declares: package.json, its older `licenses` array, or the
// component.json some older packages still carry.
function licence(dir, pkg) {
  if (pkg.license) return pkg.license;
  if (Array.isArray(pkg.licenses)) return pkg.licenses.map((l) => l.type).join(" OR ");
  try {
    return JSON.parse(readFileSync(join(dir, "component.json"), "utf8")).license ?? "unstated";
  } catch {
    return "unstated";
  }
}

// The "License" section of the package's README, if it has one.
function readmeLicence(dir) {
  const readme = readdirSync(dir).find((f) => /^readme/i.test(f));
  if (!readme) return null;
  const m = readFileSync(join(dir, readme), "utf8").match(/^#+\s*licen[cs]e\s*\n([\s\S]*?)(?=^#|(?![\s\S]))/im);
  return m ? m[1].trim() : null;
}

writeFileSync(join(here, "THIRD_PARTY_NOTICES"), await notices());
