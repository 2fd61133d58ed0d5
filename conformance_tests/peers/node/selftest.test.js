// Entry point for `node --test conformance_tests/peers/node/`: Node 20's test runner only
// picks files named like `*.test.js` when given a directory, so this loads selftest.js.
'use strict';

require('./selftest.js');
