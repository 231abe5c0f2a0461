-- Smoke test: the extension installs and the basic tenant flow works.
SELECT extversion FROM pg_extension WHERE extname = 'crm';
