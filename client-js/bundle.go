// Package clientjs embeds the built browser shim so the notifier can serve
// it at /pushpoll.js without Node at build time. The files are produced by
// `npm run build` in this folder and committed; a test in test/dist.test.js
// fails when they differ from a fresh build of src/.
package clientjs

import _ "embed"

// Script is dist/pushpoll.js: the IIFE bundle defining the global PushPoll.
//
//go:embed dist/pushpoll.js
var Script []byte

// SourceMap is dist/pushpoll.js.map.
//
//go:embed dist/pushpoll.js.map
var SourceMap []byte

// Module is dist/pushpoll.mjs, the ES module build.
//
//go:embed dist/pushpoll.mjs
var Module []byte
