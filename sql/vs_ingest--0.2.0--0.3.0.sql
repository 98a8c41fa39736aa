-- vs_ingest 0.2.0 -> 0.3.0, run by ALTER EXTENSION vs_ingest UPDATE. After it, an installation
-- of 0.2.0 has the objects of a fresh 0.3.0 and keeps its ledger, sources, coverage and targets.
-- Unlike 0.1.0 -> 0.2.0, functions are replaced in place (CREATE OR REPLACE), never dropped
-- wholesale: the targets' views (owned by the loading roles) use the extension's C functions.
-- What changed and why: docs/catalog-changes.md ("0.3.0").
\echo Use "ALTER EXTENSION vs_ingest UPDATE" to load this file. \quit

------------------------------------------------------------------------------------------------
-- 1. Trust: objects a load adopts, code it runs (issue 17, items 1, 5, 6, 7).
------------------------------------------------------------------------------------------------

------------------------------------------------------------------------------------------------
-- 2. Visibility by identity; functions that run with the catalog owner's rights (issue 17,
--    items 2 and 3).
------------------------------------------------------------------------------------------------

------------------------------------------------------------------------------------------------
-- 3. Local times that do not exist (issue 17, item 4).
------------------------------------------------------------------------------------------------
