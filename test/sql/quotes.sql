-- Products, price books, opportunity line items and quotes (doc/quotes.md):
-- pricing from price books, the amount of a deal with line items, gap-free
-- quote numbers, quote math and its rounding rule, status transitions,
-- frozen versions, accepting with sync, expiry, and tenancy.
\set VERBOSITY terse
SET client_min_messages = warning;

SELECT crm.create_organization('Quote Org') AS org \gset
SELECT crm.create_organization('Other Quote Org') AS other \gset
DROP ROLE IF EXISTS crm_quote_admin;
DROP ROLE IF EXISTS crm_quote_rep;
DROP ROLE IF EXISTS crm_quote_reader;
CREATE ROLE crm_quote_admin;
CREATE ROLE crm_quote_rep;
CREATE ROLE crm_quote_reader;
SELECT crm.grant_access('crm_quote_admin', 'admin');
SELECT crm.grant_access('crm_quote_rep', 'user');
SELECT crm.grant_access('crm_quote_reader', 'readonly');

-- ---------------------------------------------------------------------------
-- 1. The catalog is configuration: an admin writes it, a rep reads it.
-- ---------------------------------------------------------------------------
SET ROLE crm_quote_admin;
SET crm.organization_id = :'other';
INSERT INTO crm.product (id, name, sku, unit_price) VALUES ('0c0e0000-0000-7000-8000-0000000000e1', 'Foreign widget', 'W-1', 1);
SET crm.organization_id = :'org';
INSERT INTO crm.app_user (name, email) VALUES ('Quinn Rep', 'quinn@quote.example') RETURNING id AS quinn \gset
SET crm.user_id = :'quinn';
-- the same SKU in another organization is fine; twice in one is not
INSERT INTO crm.product (name, sku, family, unit_price, cost, tax_rate) VALUES ('Widget', 'W-1', 'Hardware', 10.00, 4.00, 20)
RETURNING id AS widget \gset
INSERT INTO crm.product (name, sku) VALUES ('Widget copy', 'W-1');
INSERT INTO crm.product (name, sku, unit_price, tax_rate) VALUES ('Support', 'S-1', 0.05, 8.875) RETURNING id AS support \gset
INSERT INTO crm.product (name, sku, unit_price) VALUES ('Euro thing', 'E-1', 7) RETURNING id AS euro_thing \gset
UPDATE crm.product SET currency = 'EUR' WHERE id = :'euro_thing';
INSERT INTO crm.product (name, sku, unit_price, is_active) VALUES ('Retired', 'R-1', 1, false) RETURNING id AS retired \gset
SELECT name, sku, currency, unit_price, cost, tax_rate, is_active FROM crm.product ORDER BY sku;
-- negative and out-of-range values are refused
INSERT INTO crm.product (name, unit_price) VALUES ('Negative', -1);
INSERT INTO crm.product (name, cost) VALUES ('Negative cost', -0.01);
INSERT INTO crm.product (name, tax_rate) VALUES ('Too taxed', 100.001);
-- price books: at most one active standard book per currency; a window in order
INSERT INTO crm.price_book (name, kind) VALUES ('Standard USD', 'standard') RETURNING id AS std \gset
INSERT INTO crm.price_book (name, kind) VALUES ('Second standard', 'standard');
INSERT INTO crm.price_book (name, kind, currency) VALUES ('Standard EUR', 'standard', 'EUR');
INSERT INTO crm.price_book (name, valid_from, valid_to) VALUES ('Backwards', '2027-02-01', '2027-01-01');
INSERT INTO crm.price_book (name, valid_from, valid_to) VALUES ('Partners 2027', '2027-01-01', '2027-12-31') RETURNING id AS partners \gset
INSERT INTO crm.price_book_entry (price_book_id, product_id, unit_price) VALUES
	(:'std', :'widget', 9.50), (:'partners', :'widget', 8.00), (:'partners', :'support', 0.04);
INSERT INTO crm.price_book_entry (price_book_id, product_id, unit_price) VALUES (:'std', :'widget', 1);
INSERT INTO crm.price_book_entry (price_book_id, product_id, unit_price) VALUES (:'std', :'support', -1);
SET ROLE crm_quote_rep;
INSERT INTO crm.product (name) VALUES ('Rep product');
SELECT count(*) AS products_visible FROM crm.product;

-- ---------------------------------------------------------------------------
-- 2. Opportunity line items: priced from the standard book of the deal's
-- currency (else the product's own price), the deal's amount is their
-- total while it has any.
-- ---------------------------------------------------------------------------
INSERT INTO crm.account (name) VALUES ('Customer') RETURNING id AS customer \gset
INSERT INTO crm.contact (last_name, account_id) VALUES ('Buyer', :'customer') RETURNING id AS buyer \gset
INSERT INTO crm.opportunity (name, amount, account_id, contact_id, owner_id, close_date)
VALUES ('Big deal', 500, :'customer', :'buyer', :'quinn', '2027-03-01') RETURNING id AS deal \gset
-- widget from the standard book (9.50, not the product's 10.00); support
-- from the product (no entry in the standard book); a free line priced by hand
INSERT INTO crm.opportunity_line_item (opportunity_id, product_id, quantity, position) VALUES (:'deal', :'widget', 3, 1);
INSERT INTO crm.opportunity_line_item (opportunity_id, product_id, quantity, discount_percent, position) VALUES (:'deal', :'support', 10, 50, 2);
INSERT INTO crm.opportunity_line_item (opportunity_id, description, list_price, unit_price, position) VALUES (:'deal', 'Setup', 200, 150, 3);
SELECT position, list_price, unit_price, quantity, discount_percent, subtotal, discount_amount, total_price
  FROM crm.opportunity_line_item WHERE opportunity_id = :'deal' ORDER BY position;
SELECT amount, expected_revenue FROM crm.opportunity WHERE id = :'deal';
-- from another book (the partner book is valid in 2027 only; today's date
-- decides for deal lines, so it is chosen here only as a named book)
INSERT INTO crm.opportunity_line_item (opportunity_id, product_id, price_book_id) VALUES (:'deal', :'euro_thing', NULL);
INSERT INTO crm.opportunity_line_item (opportunity_id, product_id) VALUES (:'deal', :'retired');
INSERT INTO crm.opportunity_line_item (opportunity_id, description) VALUES (:'deal', 'No price');
INSERT INTO crm.opportunity_line_item (opportunity_id, list_price) VALUES (:'deal', 5);
INSERT INTO crm.opportunity_line_item (opportunity_id, product_id, quantity) VALUES (:'deal', :'widget', -1);
INSERT INTO crm.opportunity_line_item (opportunity_id, product_id, discount_percent) VALUES (:'deal', :'widget', 100.5);
INSERT INTO crm.opportunity_line_item (opportunity_id, product_id) VALUES (:'deal', '0c0e0000-0000-7000-8000-0000000000e1');
-- the amount is the lines' while there are lines
UPDATE crm.opportunity SET amount = 1 WHERE id = :'deal';
UPDATE crm.opportunity SET currency = 'EUR' WHERE id = :'deal';
UPDATE crm.opportunity SET name = 'Big deal!' WHERE id = :'deal';
-- a change of a line moves the amount (one UPDATE for a multi-row statement)
UPDATE crm.opportunity_line_item SET quantity = quantity * 2 WHERE opportunity_id = :'deal';
SELECT amount FROM crm.opportunity WHERE id = :'deal';
-- changing the product prices the line again
UPDATE crm.opportunity_line_item SET product_id = :'support' WHERE opportunity_id = :'deal' AND position = 1;
SELECT list_price, total_price FROM crm.opportunity_line_item WHERE opportunity_id = :'deal' AND position = 1;
-- a line cannot move to another deal
INSERT INTO crm.opportunity (name, amount) VALUES ('Small deal', 42) RETURNING id AS small \gset
UPDATE crm.opportunity_line_item SET opportunity_id = :'small' WHERE opportunity_id = :'deal' AND position = 1;
-- the stage history saw the amount change
SELECT count(*) AS stints, min(amount) AS first_amount FROM crm.opportunity_stage_history WHERE opportunity_id = :'deal';
-- once the last line is gone the amount stays and can be set by hand again
RESET ROLE;
SET ROLE crm_quote_admin;
DELETE FROM crm.opportunity_line_item WHERE opportunity_id = :'deal';
SELECT amount FROM crm.opportunity WHERE id = :'deal';
UPDATE crm.opportunity SET amount = 480 WHERE id = :'deal';
SELECT amount FROM crm.opportunity WHERE id = :'deal';
SET ROLE crm_quote_rep;

-- ---------------------------------------------------------------------------
-- 3. Quote numbers: Q-000001, Q-000002, ... per organization, assigned, never
-- given, never changed; a rolled-back quote gives its number back.
-- ---------------------------------------------------------------------------
INSERT INTO crm.quote (name, opportunity_id, price_book_id, quote_date, valid_until, terms)
VALUES ('Big deal quote', :'deal', :'partners', '2027-01-10', '2027-02-10', 'Net 30') RETURNING id AS q1, number \gset
SELECT :'number' AS first_number;
SELECT number, status, currency, account_id = :'customer' AS account_from_deal, contact_id = :'buyer' AS contact_from_deal,
	   line_count, subtotal, discount_total, tax_total, total, version
  FROM crm.quote WHERE id = :'q1';
BEGIN;
INSERT INTO crm.quote (name, quote_date) VALUES ('Rolled back', '2027-01-10');
SELECT number FROM crm.quote WHERE name = 'Rolled back';
ROLLBACK;
INSERT INTO crm.quote (name, quote_date) VALUES ('Math', '2027-01-10') RETURNING id AS qm, number \gset
SELECT :'number' AS after_rollback;
INSERT INTO crm.quote (name, number) VALUES ('Numbered by hand', 'Q-000777');
INSERT INTO crm.quote (name, status) VALUES ('Born sent', 'sent');
UPDATE crm.quote SET number = 'Q-000009' WHERE id = :'q1';
-- the other organization counts on its own
RESET crm.user_id;
SET crm.organization_id = :'other';
INSERT INTO crm.quote (name) VALUES ('Other first') RETURNING number AS other_number \gset
SELECT :'other_number' AS other_first;
SET crm.organization_id = :'org';
SET crm.user_id = :'quinn';
-- applications cannot write the counter
UPDATE crm.quote_counter SET last_number = 100;
INSERT INTO crm.quote_counter (last_number) VALUES (5);

-- ---------------------------------------------------------------------------
-- 4. Quote math.  Rule: every amount of a line is rounded to cents, half
-- up; totals are sums of the rounded line amounts.
-- ---------------------------------------------------------------------------
INSERT INTO crm.quote_line_item (quote_id, position, description, quantity, list_price, discount_percent, tax_rate) VALUES
	-- 0.5 x 1.01 = 0.505 -> 0.51; tax 10 % of 0.51 = 0.051 -> 0.05
	(:'qm', 1, 'half cent up', 0.5, 1.01, 0, 10),
	-- 10.05 less 15 % (1.5075 -> 1.51) = 8.54; tax 8.875 % = 0.757925 -> 0.76; 9.30
	(:'qm', 2, 'discount and odd tax', 1, 10.05, 15, 8.875),
	-- 12.5 % of 0.10 = 0.0125 -> 0.01
	(:'qm', 3, 'small discount', 1, 0.10, 12.5, 0),
	-- tax 10 % of 0.05 = 0.005 -> 0.01 (half up)
	(:'qm', 4, 'half cent tax', 1, 0.05, 0, 10),
	-- zero quantity: all zero
	(:'qm', 5, 'zero quantity', 0, 99.99, 10, 20),
	-- 100 % discount: nothing to pay, no tax
	(:'qm', 6, 'free', 3, 25.00, 100, 20),
	-- a third, three times: 0.33 each, 0.99 in all (lines are rounded, then summed)
	(:'qm', 7, 'third', 0.3333, 1.00, 0, 0),
	(:'qm', 8, 'third', 0.3333, 1.00, 0, 0),
	(:'qm', 9, 'third', 0.3333, 1.00, 0, 0);
SELECT position, description, quantity, list_price, discount_percent, tax_rate, subtotal, discount_amount, tax_amount, line_total
  FROM crm.quote_line_item WHERE quote_id = :'qm' ORDER BY position;
SELECT line_count, subtotal, discount_total, tax_total, total, total = subtotal - discount_total + tax_total AS adds_up
  FROM crm.quote WHERE id = :'qm';
-- a hand price overrides the list price; large values stay exact
INSERT INTO crm.quote_line_item (quote_id, position, description, quantity, list_price, unit_price, tax_rate)
VALUES (:'qm', 10, 'override', 1234567.8912, 100.00, 99.99, 19);
SELECT subtotal, tax_amount, line_total FROM crm.quote_line_item WHERE quote_id = :'qm' AND position = 10;
SELECT subtotal, discount_total, tax_total, total FROM crm.quote WHERE id = :'qm';
-- negative values are refused, so is a discount over 100 % or a tax over 100 %
INSERT INTO crm.quote_line_item (quote_id, description, quantity, list_price, tax_rate) VALUES (:'qm', 'neg', -1, 1, 0);
INSERT INTO crm.quote_line_item (quote_id, description, quantity, list_price, tax_rate) VALUES (:'qm', 'neg', 1, -1, 0);
INSERT INTO crm.quote_line_item (quote_id, description, quantity, list_price, unit_price, tax_rate) VALUES (:'qm', 'neg', 1, 1, -0.01, 0);
INSERT INTO crm.quote_line_item (quote_id, description, list_price, discount_percent, tax_rate) VALUES (:'qm', 'neg', 1, -5, 0);
INSERT INTO crm.quote_line_item (quote_id, description, list_price, discount_percent, tax_rate) VALUES (:'qm', 'over', 1, 100.01, 0);
INSERT INTO crm.quote_line_item (quote_id, description, list_price, tax_rate) VALUES (:'qm', 'neg', 1, -1);
INSERT INTO crm.quote_line_item (quote_id, description, list_price, tax_rate) VALUES (:'qm', 'over', 1, 101);
-- totals are kept, not written
UPDATE crm.quote SET total = 0 WHERE id = :'qm';
-- removing lines takes their amounts away again
DELETE FROM crm.quote_line_item WHERE quote_id = :'qm' AND position >= 5;
SELECT line_count, subtotal, discount_total, tax_total, total FROM crm.quote WHERE id = :'qm';

-- ---------------------------------------------------------------------------
-- 5. Quote lines priced from the quote's price book, in its validity window;
-- tax rate from the product.
-- ---------------------------------------------------------------------------
INSERT INTO crm.quote_line_item (quote_id, product_id, quantity, position) VALUES (:'q1', :'widget', 10, 1);
INSERT INTO crm.quote_line_item (quote_id, product_id, quantity, discount_percent, position) VALUES (:'q1', :'support', 1000, 10, 2);
SELECT position, list_price, tax_rate, subtotal, discount_amount, tax_amount, line_total
  FROM crm.quote_line_item WHERE quote_id = :'q1' ORDER BY position;
SELECT line_count, subtotal, discount_total, tax_total, total FROM crm.quote WHERE id = :'q1';
-- the partner book has no euro thing, and the quote is in USD anyway
INSERT INTO crm.quote_line_item (quote_id, product_id) VALUES (:'q1', :'euro_thing');
-- a quote dated outside the book's window cannot be priced from it
INSERT INTO crm.quote (name, price_book_id, quote_date) VALUES ('Too early', :'partners', '2026-12-31') RETURNING id AS q_early \gset
INSERT INTO crm.quote_line_item (quote_id, product_id) VALUES (:'q_early', :'widget');
-- the price book and currency of a quote with lines are fixed
UPDATE crm.quote SET price_book_id = :'std' WHERE id = :'q1';
UPDATE crm.quote SET currency = 'EUR' WHERE id = :'q1';

-- ---------------------------------------------------------------------------
-- 6. Sending freezes a version; later edits leave it alone; a version never
-- changes; revising and sending again makes version 2.
-- ---------------------------------------------------------------------------
UPDATE crm.quote SET status = 'sent' WHERE id = :'q_early';
UPDATE crm.quote SET status = 'accepted' WHERE id = :'q1';
UPDATE crm.quote SET status = 'sent' WHERE id = :'q1';
SELECT status, version, sent_at IS NOT NULL AS sent FROM crm.quote WHERE id = :'q1';
SELECT version, number, total, jsonb_array_length(lines) AS lines, lines->0->>'line_total' AS first_line_total,
	   sent_by = :'quinn' AS sent_by_quinn
  FROM crm.quote_version WHERE quote_id = :'q1';
-- the lines of a sent quote are fixed; revising (back to draft) opens them
UPDATE crm.quote_line_item SET quantity = 20 WHERE quote_id = :'q1' AND position = 1;
UPDATE crm.quote SET status = 'draft' WHERE id = :'q1';
UPDATE crm.quote_line_item SET quantity = 20 WHERE quote_id = :'q1' AND position = 1;
UPDATE crm.quote SET terms = 'Net 60' WHERE id = :'q1';
SELECT q.total AS quote_total, v.total AS sent_total, v.terms AS sent_terms, v.lines->0->>'quantity' AS sent_quantity
  FROM crm.quote q JOIN crm.quote_version v ON v.quote_id = q.id WHERE q.id = :'q1';
RESET ROLE;
UPDATE crm.quote_version SET total = 0 WHERE quote_id = :'q1';
SET ROLE crm_quote_rep;
INSERT INTO crm.quote_version (quote_id, version, number, name, currency, quote_date, subtotal, discount_total, tax_total, total, lines, sent_at)
VALUES (:'q1', 9, 'Q-000001', 'forged', 'USD', '2027-01-01', 0, 0, 0, 0, '[]', now());
UPDATE crm.quote SET status = 'sent' WHERE id = :'q1';
SELECT version, total, lines->0->>'quantity' AS quantity FROM crm.quote_version WHERE quote_id = :'q1' ORDER BY version;

-- ---------------------------------------------------------------------------
-- 7. Accepting syncs the deal: its line items become the quote's, its
-- amount their total (before tax).  An accepted quote is final; a deal has
-- at most one accepted quote.
-- ---------------------------------------------------------------------------
UPDATE crm.quote SET status = 'accepted' WHERE id = :'q1';
SELECT status, accepted_at IS NOT NULL AS accepted FROM crm.quote WHERE id = :'q1';
SELECT position, product_id = :'widget' AS widget, quantity, list_price, discount_percent, total_price
  FROM crm.opportunity_line_item WHERE opportunity_id = :'deal' ORDER BY position;
SELECT o.amount, q.subtotal - q.discount_total AS quote_net FROM crm.opportunity o, crm.quote q WHERE o.id = :'deal' AND q.id = :'q1';
UPDATE crm.quote_line_item SET quantity = 1 WHERE quote_id = :'q1';
UPDATE crm.quote SET status = 'draft' WHERE id = :'q1';
INSERT INTO crm.quote (name, opportunity_id, quote_date) VALUES ('Second offer', :'deal', '2027-01-20') RETURNING id AS q2 \gset
INSERT INTO crm.quote_line_item (quote_id, product_id) VALUES (:'q2', :'widget');
UPDATE crm.quote SET status = 'sent' WHERE id = :'q2';
UPDATE crm.quote SET status = 'accepted' WHERE id = :'q2';
-- rejected instead; no sync
UPDATE crm.quote SET status = 'rejected' WHERE id = :'q2';
SELECT amount FROM crm.opportunity WHERE id = :'deal';
-- without sync_on_accept the deal is left alone
INSERT INTO crm.opportunity (name, amount) VALUES ('Manual deal', 77) RETURNING id AS manual \gset
INSERT INTO crm.quote (name, opportunity_id, sync_on_accept, quote_date) VALUES ('No sync', :'manual', false, '2027-01-20') RETURNING id AS q3 \gset
INSERT INTO crm.quote_line_item (quote_id, product_id) VALUES (:'q3', :'widget');
UPDATE crm.quote SET status = 'sent' WHERE id = :'q3';
UPDATE crm.quote SET status = 'accepted' WHERE id = :'q3';
SELECT amount, (SELECT count(*) FROM crm.opportunity_line_item WHERE opportunity_id = :'manual') AS lines FROM crm.opportunity WHERE id = :'manual';

-- ---------------------------------------------------------------------------
-- 8. Expiry: sent quotes whose validity ended before the given day.
-- ---------------------------------------------------------------------------
INSERT INTO crm.quote (name, quote_date, valid_until) VALUES ('Expiring', '2027-01-01', '2027-01-31') RETURNING id AS q4 \gset
INSERT INTO crm.quote_line_item (quote_id, description, list_price, tax_rate) VALUES (:'q4', 'x', 1, 0);
UPDATE crm.quote SET status = 'sent' WHERE id = :'q4';
SELECT crm.expire_quotes('2027-01-31') AS expired_on_last_day;
SELECT crm.expire_quotes('2027-02-01') AS expired_after;
SELECT status FROM crm.quote WHERE id = :'q4';
SELECT crm.expire_quotes(NULL);

-- ---------------------------------------------------------------------------
-- 9. Deleting: a quote is soft-deleted (its number stays taken); a hard
-- delete is refused, even for an admin.
-- ---------------------------------------------------------------------------
UPDATE crm.quote SET deleted_at = now() WHERE id = :'q_early';
SET ROLE crm_quote_admin;
DELETE FROM crm.quote WHERE id = :'q4';
SET ROLE crm_quote_rep;
SELECT number, name, status, deleted_at IS NOT NULL AS deleted FROM crm.quote ORDER BY number;
SELECT last_number FROM crm.quote_counter;

-- ---------------------------------------------------------------------------
-- 10. Tenancy: the other organization sees none of it, cannot price from
-- this one's catalog, and a read-only role writes nothing.
-- ---------------------------------------------------------------------------
RESET crm.user_id;
SET crm.organization_id = :'other';
SELECT count(*) AS quotes, (SELECT count(*) FROM crm.product) AS products, (SELECT count(*) FROM crm.quote_version) AS versions FROM crm.quote;
INSERT INTO crm.quote_line_item (quote_id, product_id) VALUES (:'q1', :'widget');
SET crm.organization_id = :'org';
RESET ROLE;
SET ROLE crm_quote_reader;
INSERT INTO crm.quote (name) VALUES ('Reader quote');
UPDATE crm.quote_line_item SET quantity = 5;
RESET ROLE;

-- ---------------------------------------------------------------------------
-- 10b. One statement over several quotes and price lists: each line is
-- priced from its own quote (the C pricing trigger caches its look-ups for
-- the statement, per quote and per price list); a product missing from the
-- standard book takes its own price; a changed product is priced again;
-- one bad line stops the whole statement.  (Rolled back: numbers return.)
-- ---------------------------------------------------------------------------
BEGIN;
SET LOCAL ROLE crm_quote_rep;
INSERT INTO crm.quote (name, price_book_id, quote_date) VALUES ('Partner quote', :'partners', '2027-03-01') RETURNING id AS qp \gset
INSERT INTO crm.quote (name, quote_date) VALUES ('Standard quote', '2027-03-01') RETURNING id AS qs \gset
INSERT INTO crm.quote_line_item (quote_id, product_id, position, tax_rate)
SELECT v.q, v.p, v.i, CASE WHEN v.i = 4 THEN 0 END
  FROM (VALUES (1, :'qp'::uuid, :'widget'::uuid), (2, :'qs', :'widget'), (3, :'qp', :'support'),
			   (4, :'qs', :'widget'), (5, :'qp', :'widget'), (6, :'qs', :'support')) v(i, q, p);
SELECT q.name, l.position, l.list_price, l.tax_rate, l.line_total
  FROM crm.quote_line_item l JOIN crm.quote q ON q.id = l.quote_id
 WHERE l.quote_id IN (:'qp', :'qs') ORDER BY l.position;
SELECT name, line_count, subtotal, tax_total, total FROM crm.quote WHERE id IN (:'qp', :'qs') ORDER BY name;
UPDATE crm.quote_line_item SET product_id = :'support' WHERE quote_id = :'qp' AND position = 1;
SELECT position, list_price, tax_rate, line_total FROM crm.quote_line_item WHERE quote_id = :'qp' ORDER BY position;
SAVEPOINT bad;
INSERT INTO crm.quote_line_item (quote_id, product_id, position)
VALUES (:'qs', :'widget', 7), (:'qs', :'widget', 8), (:'qs', :'euro_thing', 9);
ROLLBACK TO bad;
SELECT line_count, total FROM crm.quote WHERE id = :'qs';
ROLLBACK;

-- ---------------------------------------------------------------------------
-- 11. Derived data: totals, amounts and numbers agree with a recomputation.
-- ---------------------------------------------------------------------------
SELECT * FROM crm.verify() WHERE "check" IN ('quote_totals', 'quote_numbers', 'pipeline_rollup', 'opportunity_history');
-- drift is reported: a totals row changed behind the triggers' back
BEGIN;
SET LOCAL crm.restoring = on;
UPDATE crm.quote SET subtotal = subtotal + 1, total = total + 1 WHERE id = :'qm';
UPDATE crm.quote_counter SET last_number = last_number + 1 WHERE organization_id = :'org';
SET LOCAL crm.restoring = off;
SELECT "check", entity, expected, actual FROM crm.verify() WHERE "check" IN ('quote_totals', 'quote_numbers');
ROLLBACK;
SELECT crm.revoke_access(r) FROM unnest(ARRAY['crm_quote_admin', 'crm_quote_rep', 'crm_quote_reader']::regrole[]) r;
DROP ROLE crm_quote_admin;
DROP ROLE crm_quote_rep;
DROP ROLE crm_quote_reader;
