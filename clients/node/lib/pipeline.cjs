'use strict';
// Opening a tenant transaction over node-postgres: BEGIN and the context
// statement in one round trip.

// text is the context statement with its ids inlined (strictly checked);
// params, when given, travel as bind parameters (a token), after a BEGIN.
async function openPg(client, begin, text, params) {
  if (params) {
    await client.query(begin);
    return (await client.query(text, params)).rows;
  }
  const results = await client.query(`${begin}; ${text}`);
  return results[results.length - 1].rows;
}

module.exports = { openPg };
