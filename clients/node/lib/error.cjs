'use strict';
// The error trovella's package raises itself: code is a PostgreSQL SQLSTATE
// where the server would raise the same (22P02 for a bad uuid), or
// TROVELLA_VERSION (the server's trovella is missing or too old) and
// TROVELLA_DRIVER (not a database this package knows).
class TrovellaError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'TrovellaError';
    this.code = code;
  }
}

module.exports = { TrovellaError };
