-- trovella 0.2.0 -> 0.3.0: tokens and ids after an outside review.

\echo Use "ALTER EXTENSION trovella UPDATE TO '0.3.0'" to load this file. \quit
