// The source against its declared types (tsc -p ., npm test): the start that src/pushpoll.js
// exports must be usable wherever pushpoll.d.ts's is.
import { start as fromSource } from "../../src/pushpoll.js";
import type { start as declared } from "pushpoll-client";

const checked: typeof declared = fromSource;
void checked;
