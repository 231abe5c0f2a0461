-- ============================================================================
-- 37 products, price books and quotes: the catalog, opportunity line items
-- (whose total is the opportunity's amount), quotes with gap-free numbers,
-- their line items and totals, and the frozen versions of sent quotes
-- (doc/quotes.md).
--
-- Quote arithmetic is exact numeric arithmetic with one rounding rule:
-- every money amount of a line is rounded to cents, half up (PostgreSQL's
-- round(numeric, 2) rounds halves away from zero, and no amount here is
-- negative), and every total is the plain sum of its lines' rounded
-- amounts.  So a quote's total is always subtotal - discount + tax to the
-- cent, and always the sum of the line totals printed on it.
-- ============================================================================

-- The current organization's default currency (a column default).
CREATE FUNCTION crm._default_currency() RETURNS char(3)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	cur char(3);
BEGIN
	SELECT o.default_currency INTO cur FROM crm.organization o WHERE o.id = org;
	RETURN cur;
END;
$$;
COMMENT ON FUNCTION crm._default_currency() IS
	'Internal: the current organization''s default currency (default of the currency columns of products, price books and quotes).';

-- ---------------------------------------------------------------------------
-- The catalog
-- ---------------------------------------------------------------------------
CREATE TABLE crm.product (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	sku			text,
	family		text,
	description	text,
	unit_price	numeric(18,2) NOT NULL DEFAULT 0,
	cost		numeric(18,2),
	currency	char(3) NOT NULL DEFAULT crm._default_currency(),
	tax_rate	numeric(6,3) NOT NULL DEFAULT 0,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT product_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT product_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT product_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT product_sku_not_blank CHECK (pg_catalog.btrim(sku) <> ''),
	CONSTRAINT product_unit_price_nonnegative CHECK (unit_price >= 0),
	CONSTRAINT product_cost_nonnegative CHECK (cost >= 0),
	CONSTRAINT product_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT product_tax_rate_range CHECK (tax_rate BETWEEN 0 AND 100)
);
-- (partial: the primary key alone serves foreign-key checks)
CREATE UNIQUE INDEX product_sku_key ON crm.product (organization_id, sku) WHERE sku IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX product_family_idx ON crm.product (organization_id, family, name) WHERE deleted_at IS NULL;
COMMENT ON TABLE crm.product IS 'A product or service the tenant sells: the catalog line items and quotes are priced from.';
COMMENT ON COLUMN crm.product.name IS 'Product name.';
COMMENT ON COLUMN crm.product.sku IS 'Stock keeping unit, unique per organization among products not deleted.';
COMMENT ON COLUMN crm.product.family IS 'Product family (grouping for reports).';
COMMENT ON COLUMN crm.product.description IS 'Free description.';
COMMENT ON COLUMN crm.product.unit_price IS 'List price in currency, used when a line''s price book has no entry for the product (and the currencies agree).';
COMMENT ON COLUMN crm.product.cost IS 'Unit cost in currency (for margins).';
COMMENT ON COLUMN crm.product.currency IS 'ISO 4217 code of unit_price and cost; the organization''s default currency when not given.';
COMMENT ON COLUMN crm.product.tax_rate IS 'Tax rate in percent (0-100) a quote line of the product takes unless it gives its own.';
COMMENT ON COLUMN crm.product.is_active IS 'False for a product no longer sold: new line items refuse it.';
SELECT crm._setup_tenant_table('crm.product');

CREATE TABLE crm.price_book (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	name		text NOT NULL,
	kind		text NOT NULL DEFAULT 'custom',
	currency	char(3) NOT NULL DEFAULT crm._default_currency(),
	valid_from	date,
	valid_to	date,
	is_active	boolean NOT NULL DEFAULT true,
	description	text,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT price_book_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT price_book_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT price_book_name_key UNIQUE (name, organization_id),
	CONSTRAINT price_book_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT price_book_kind_valid CHECK (kind IN ('standard', 'custom')),
	CONSTRAINT price_book_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT price_book_validity_ordered CHECK (valid_from <= valid_to)
);
-- one active standard book per currency: where a line without a book of
-- its own takes its price
CREATE UNIQUE INDEX price_book_one_standard ON crm.price_book (organization_id, currency) WHERE kind = 'standard' AND is_active;
COMMENT ON TABLE crm.price_book IS 'A list of prices in one currency: the standard book of a currency (at most one active), or a custom one (a segment, a partner, a campaign), optionally valid only for a window of dates.';
COMMENT ON COLUMN crm.price_book.name IS 'Price book name, unique per organization.';
COMMENT ON COLUMN crm.price_book.kind IS 'standard (at most one active per currency; used when a line or quote names no book) or custom.';
COMMENT ON COLUMN crm.price_book.currency IS 'ISO 4217 code of its prices.';
COMMENT ON COLUMN crm.price_book.valid_from IS 'First day a quote may be dated and priced from the book (NULL: no limit).';
COMMENT ON COLUMN crm.price_book.valid_to IS 'Last day a quote may be dated and priced from the book (NULL: no limit).';
COMMENT ON COLUMN crm.price_book.is_active IS 'False for a retired book: new lines are not priced from it.';
COMMENT ON COLUMN crm.price_book.description IS 'Free description.';
SELECT crm._setup_tenant_table('crm.price_book', label => 'price book');

CREATE TABLE crm.price_book_entry (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	price_book_id uuid NOT NULL,
	product_id	uuid NOT NULL,
	unit_price	numeric(18,2) NOT NULL,
	is_active	boolean NOT NULL DEFAULT true,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT price_book_entry_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT price_book_entry_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT price_book_entry_price_book_fkey FOREIGN KEY (organization_id, price_book_id)
		REFERENCES crm.price_book (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT price_book_entry_product_fkey FOREIGN KEY (organization_id, product_id)
		REFERENCES crm.product (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT price_book_entry_key UNIQUE (organization_id, price_book_id, product_id),
	CONSTRAINT price_book_entry_unit_price_nonnegative CHECK (unit_price >= 0)
);
CREATE INDEX price_book_entry_product_idx ON crm.price_book_entry (organization_id, product_id);
COMMENT ON TABLE crm.price_book_entry IS 'The price of a product in a price book (one per book and product).';
COMMENT ON COLUMN crm.price_book_entry.price_book_id IS 'The crm.price_book.';
COMMENT ON COLUMN crm.price_book_entry.product_id IS 'The crm.product.';
COMMENT ON COLUMN crm.price_book_entry.unit_price IS 'List price of one unit, in the book''s currency.';
COMMENT ON COLUMN crm.price_book_entry.is_active IS 'False for an entry no longer offered: new lines are not priced from it.';
SELECT crm._setup_tenant_table('crm.price_book_entry', label => 'price book entry');

-- The list price of a product for a line: from the given price book (else
-- the active standard book of the currency), else the product's own unit
-- price when its currency is the line's; a clear error otherwise.  Also the
-- product's tax rate.  One query per call (it runs once per priced line).
-- Runs as the caller, under row-level security, with explicit tenant
-- filters.
CREATE FUNCTION crm._list_price(org uuid, book uuid, product uuid, currency char(3), on_date date,
								OUT price numeric, OUT tax_rate numeric)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	r record;
BEGIN
	SELECT p.name, p.deleted_at, p.is_active, p.currency AS product_currency, p.unit_price, p.tax_rate,
		   b.id AS book_id, b.name AS book_name, b.is_active AS book_active, b.currency AS book_currency,
		   b.valid_from, b.valid_to, e.unit_price AS entry_price
	  INTO r
	  FROM crm.product p
	  LEFT JOIN crm.price_book b
		ON b.organization_id = org
	   AND CASE WHEN book IS NOT NULL THEN b.id = book
				ELSE b.kind = 'standard' AND b.is_active AND b.currency = _list_price.currency END
	  LEFT JOIN crm.price_book_entry e
		ON e.organization_id = org AND e.price_book_id = b.id AND e.product_id = p.id AND e.is_active
	 WHERE p.organization_id = org AND p.id = product;
	IF NOT FOUND OR r.deleted_at IS NOT NULL THEN
		RAISE EXCEPTION 'product % does not exist in this organization', product USING ERRCODE = 'foreign_key_violation';
	END IF;
	IF NOT r.is_active THEN
		RAISE EXCEPTION 'product "%" is not active', r.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Activate it (UPDATE crm.product SET is_active = true) or choose another product.';
	END IF;
	tax_rate := r.tax_rate;
	IF book IS NOT NULL AND r.book_id IS NULL THEN
		RAISE EXCEPTION 'price book % does not exist in this organization', book USING ERRCODE = 'foreign_key_violation';
	END IF;
	IF r.book_id IS NOT NULL THEN
		IF NOT r.book_active THEN
			RAISE EXCEPTION 'price book "%" is not active', r.book_name USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
		IF r.book_currency <> _list_price.currency THEN
			RAISE EXCEPTION 'price book "%" is in %, the line is in %', r.book_name, r.book_currency, _list_price.currency
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Price the line from a book in its own currency.';
		END IF;
		IF on_date < r.valid_from OR on_date > r.valid_to THEN
			RAISE EXCEPTION 'price book "%" is not valid on %', r.book_name, on_date
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = format('It is valid from %s to %s.', coalesce(r.valid_from::text, 'any date'), coalesce(r.valid_to::text, 'any date'));
		END IF;
		IF r.entry_price IS NOT NULL THEN
			price := r.entry_price;
			RETURN;
		END IF;
		IF book IS NOT NULL THEN
			RAISE EXCEPTION 'price book "%" has no active price for product "%"', r.book_name, r.name
				USING ERRCODE = 'no_data_found',
					  HINT = 'Add an entry to crm.price_book_entry, or give the line a list_price.';
		END IF;
	END IF;
	IF r.product_currency = _list_price.currency THEN
		price := r.unit_price;
		RETURN;
	END IF;
	RAISE EXCEPTION 'no % price for product "%"', _list_price.currency, r.name
		USING ERRCODE = 'no_data_found',
			  DETAIL = format('The product is priced in %s and no active standard price book in %s has it.', r.product_currency, _list_price.currency),
			  HINT = 'Add it to a price book in that currency, or give the line a list_price.';
END;
$$;
COMMENT ON FUNCTION crm._list_price(uuid, uuid, uuid, char, date) IS
	'Internal (line-item triggers): a product''s list price from the given price book, else the active standard book of the currency, else the product''s own price in that currency (errors say which is missing), and its tax rate; one query.';

-- ---------------------------------------------------------------------------
-- Opportunity line items: when an opportunity has any, its amount is their
-- total (crm.trg_opportunity_amount); otherwise it is entered by hand.
-- ---------------------------------------------------------------------------
CREATE TABLE crm.opportunity_line_item (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	opportunity_id uuid NOT NULL,
	product_id	uuid,
	price_book_id uuid,
	position	integer NOT NULL DEFAULT 0,
	description	text,
	quantity	numeric(14,4) NOT NULL DEFAULT 1,
	list_price	numeric(18,2) NOT NULL,
	unit_price	numeric(18,2),
	discount_percent numeric(5,2) NOT NULL DEFAULT 0,
	subtotal	numeric(18,2) GENERATED ALWAYS AS (pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)) STORED,
	discount_amount numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2)) STORED,
	total_price	numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)
		- pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2)) STORED,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT opportunity_line_item_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT opportunity_line_item_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT opportunity_line_item_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id)
		REFERENCES crm.opportunity (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT opportunity_line_item_product_fkey FOREIGN KEY (organization_id, product_id)
		REFERENCES crm.product (organization_id, id),
	CONSTRAINT opportunity_line_item_price_book_fkey FOREIGN KEY (organization_id, price_book_id)
		REFERENCES crm.price_book (organization_id, id),
	CONSTRAINT opportunity_line_item_priced CHECK (product_id IS NOT NULL OR pg_catalog.btrim(description) <> ''),
	CONSTRAINT opportunity_line_item_quantity_nonnegative CHECK (quantity >= 0),
	CONSTRAINT opportunity_line_item_list_price_nonnegative CHECK (list_price >= 0),
	CONSTRAINT opportunity_line_item_unit_price_nonnegative CHECK (unit_price >= 0),
	CONSTRAINT opportunity_line_item_discount_range CHECK (discount_percent BETWEEN 0 AND 100)
);
CREATE INDEX opportunity_line_item_opportunity_idx ON crm.opportunity_line_item (organization_id, opportunity_id, position);
CREATE INDEX opportunity_line_item_product_idx ON crm.opportunity_line_item (organization_id, product_id) WHERE product_id IS NOT NULL;
COMMENT ON TABLE crm.opportunity_line_item IS 'A product on a deal: while a deal has line items its amount is the sum of their total_price (kept by crm.trg_opportunity_amount).';
COMMENT ON COLUMN crm.opportunity_line_item.opportunity_id IS 'The crm.opportunity.';
COMMENT ON COLUMN crm.opportunity_line_item.product_id IS 'The crm.product (NULL: a free line described by description, priced by list_price).';
COMMENT ON COLUMN crm.opportunity_line_item.price_book_id IS 'The crm.price_book list_price comes from (NULL: the active standard book of the deal''s currency, else the product''s own price).';
COMMENT ON COLUMN crm.opportunity_line_item.position IS 'Order of the line on the deal.';
COMMENT ON COLUMN crm.opportunity_line_item.description IS 'Line text (required without a product).';
COMMENT ON COLUMN crm.opportunity_line_item.quantity IS 'Units (0 or more; up to 4 decimals).';
COMMENT ON COLUMN crm.opportunity_line_item.list_price IS 'List price of one unit, in the deal''s currency: from the price book when not given.';
COMMENT ON COLUMN crm.opportunity_line_item.unit_price IS 'Price of one unit set by hand; NULL: the list price.';
COMMENT ON COLUMN crm.opportunity_line_item.discount_percent IS 'Discount in percent (0-100) of the subtotal.';
COMMENT ON COLUMN crm.opportunity_line_item.subtotal IS 'quantity x (unit_price, else list_price), rounded to cents half up (generated).';
COMMENT ON COLUMN crm.opportunity_line_item.discount_amount IS 'subtotal x discount_percent / 100, rounded to cents half up (generated).';
COMMENT ON COLUMN crm.opportunity_line_item.total_price IS 'subtotal - discount_amount (generated); the deal''s amount is the sum over its lines.';
SELECT crm._setup_tenant_table('crm.opportunity_line_item', label => 'opportunity line item');

-- BEFORE INSERT OR UPDATE row trigger on crm.opportunity_line_item: the
-- list price from the price book when not given (or when the product or
-- book changed and the price did not).  Runs as the caller.
CREATE FUNCTION crm.trg_opportunity_line_price() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_opportunity_line_price()', TG_NAME, TG_RELID, TG_ARGV, '{opportunity_line_item}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' THEN
		RAISE EXCEPTION 'crm.trg_opportunity_line_price() must be fired as a BEFORE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		IF NEW.opportunity_id <> OLD.opportunity_id THEN
			RAISE EXCEPTION 'a line item cannot move to another opportunity'
				USING ERRCODE = 'invalid_parameter_value', HINT = 'Delete it and add a new line to the other opportunity.';
		END IF;
		IF NEW.list_price IS NOT DISTINCT FROM OLD.list_price
		   AND (NEW.product_id IS DISTINCT FROM OLD.product_id OR NEW.price_book_id IS DISTINCT FROM OLD.price_book_id) THEN
			NEW.list_price := NULL;		-- priced again below
		END IF;
	END IF;
	IF NEW.list_price IS NULL THEN
		IF NEW.product_id IS NULL THEN
			RAISE EXCEPTION 'a line item without a product needs a list_price' USING ERRCODE = 'not_null_violation';
		END IF;
		SELECT x.currency INTO o FROM crm.opportunity x
		 WHERE x.organization_id = NEW.organization_id AND x.id = NEW.opportunity_id;
		IF NOT FOUND THEN
			RETURN NEW;		-- the foreign key reports it
		END IF;
		NEW.list_price := (crm._list_price(NEW.organization_id, NEW.price_book_id, NEW.product_id, o.currency, CURRENT_DATE)).price;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_opportunity_line_price() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.opportunity_line_item: fills list_price from the price book (crm._list_price) when not given; a line cannot move to another opportunity.';
CREATE TRIGGER crm_30_price BEFORE INSERT OR UPDATE ON crm.opportunity_line_item
	FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_line_price('opportunity_line_item');

-- AFTER statement triggers on crm.opportunity_line_item (one per event,
-- each with its transition tables): the amount of every opportunity the
-- statement touched becomes the sum of its lines' total_price, in one
-- UPDATE.  The opportunities are locked first, in key order (no deadlock of
-- two statements touching the same deals), and the sums are taken by the
-- next statement, whose snapshot (READ COMMITTED) sees every line committed
-- before the lock was granted -- and no writer of these deals can commit
-- while it is held.  So the amount is exact at commit under concurrent
-- writers; under REPEATABLE READ the second writer fails to serialize
-- instead.  A deal whose last line went keeps its amount, entered by hand
-- again from then on.
CREATE FUNCTION crm.trg_opportunity_amount() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'quote_opportunity_amount';	-- src/quotes.c
COMMENT ON FUNCTION crm.trg_opportunity_amount() IS
	'AFTER INSERT/UPDATE/DELETE statement trigger on crm.opportunity_line_item: sets the amount of each opportunity the statement touched to the sum of its lines'' total_price (one UPDATE per statement; deals locked in key order first).';
CREATE TRIGGER crm_50_amount_insert AFTER INSERT ON crm.opportunity_line_item
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_opportunity_amount('opportunity_line_item');
CREATE TRIGGER crm_50_amount_update AFTER UPDATE ON crm.opportunity_line_item
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_opportunity_amount('opportunity_line_item');
CREATE TRIGGER crm_50_amount_delete AFTER DELETE ON crm.opportunity_line_item
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_opportunity_amount('opportunity_line_item');

-- BEFORE UPDATE OF amount, currency row trigger on crm.opportunity: while a
-- deal has line items, its amount is theirs and its currency is theirs.
-- Only crm.trg_opportunity_amount (a nested trigger) changes the amount then.
CREATE FUNCTION crm.trg_opportunity_line_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_opportunity_line_guard()', TG_NAME, TG_RELID, TG_ARGV, '{opportunity}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' OR TG_OP <> 'UPDATE' THEN
		RAISE EXCEPTION 'crm.trg_opportunity_line_guard() must be fired as a BEFORE UPDATE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on'
	   OR (NEW.amount = OLD.amount AND NEW.currency = OLD.currency) THEN
		RETURN NEW;
	END IF;
	IF (NEW.currency <> OLD.currency OR pg_trigger_depth() = 1)
	   AND EXISTS (SELECT 1 FROM crm.opportunity_line_item l
				   WHERE l.organization_id = OLD.organization_id AND l.opportunity_id = OLD.id) THEN
		RAISE EXCEPTION 'the % of opportunity "%" comes from its line items',
			CASE WHEN NEW.currency <> OLD.currency THEN 'currency' ELSE 'amount' END, OLD.name
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'While an opportunity has line items, its amount is the sum of their total_price, in its currency.',
				  HINT = 'Change the line items (crm.opportunity_line_item), or delete them to enter the amount by hand.';
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_opportunity_line_guard() IS
	'BEFORE UPDATE OF amount, currency row trigger on crm.opportunity: refuses a direct change of the amount or currency of a deal that has line items.';
CREATE TRIGGER crm_35_line_guard BEFORE UPDATE OF amount, currency ON crm.opportunity
	FOR EACH ROW EXECUTE FUNCTION crm.trg_opportunity_line_guard('opportunity');

-- ---------------------------------------------------------------------------
-- Quotes
-- ---------------------------------------------------------------------------

-- The last quote number given out per tenant.  Written only by
-- crm.trg_quote in the transaction that creates the quote, so a rolled-back
-- quote gives its number back and concurrent creators wait for each other
-- on this row: numbers are unique and gap-free.
CREATE TABLE crm.quote_counter (
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	last_number	bigint NOT NULL,
	CONSTRAINT quote_counter_pkey PRIMARY KEY (organization_id),
	CONSTRAINT quote_counter_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT quote_counter_positive CHECK (last_number > 0)
);
COMMENT ON TABLE crm.quote_counter IS 'The last quote number given out per organization (read-only to applications; written by crm.trg_quote in the creating transaction, so numbers are gap-free).';
COMMENT ON COLUMN crm.quote_counter.last_number IS 'The number of the organization''s latest quote (Q-000123 is 123).';
SELECT crm._setup_tenant_table('crm.quote_counter', audited => false, label => 'quote counter');

CREATE TABLE crm.quote (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	number		text NOT NULL,
	name		text NOT NULL,
	opportunity_id uuid,
	account_id	uuid,
	contact_id	uuid,
	price_book_id uuid,
	status		text NOT NULL DEFAULT 'draft',
	currency	char(3) NOT NULL,
	quote_date	date NOT NULL DEFAULT CURRENT_DATE,
	valid_until	date,
	terms		text,
	description	text,
	sync_on_accept boolean NOT NULL DEFAULT true,
	line_count	integer NOT NULL DEFAULT 0,
	subtotal	numeric(18,2) NOT NULL DEFAULT 0,
	discount_total numeric(18,2) NOT NULL DEFAULT 0,
	tax_total	numeric(18,2) NOT NULL DEFAULT 0,
	total		numeric(18,2) NOT NULL DEFAULT 0,
	version		integer NOT NULL DEFAULT 0,
	sent_at		timestamptz,
	accepted_at	timestamptz,
	owner_id	uuid,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	deleted_at	timestamptz,
	CONSTRAINT quote_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT quote_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	-- (not led by organization_id: foreign-key checks keep the primary key)
	CONSTRAINT quote_number_key UNIQUE (number, organization_id),
	CONSTRAINT quote_opportunity_fkey FOREIGN KEY (organization_id, opportunity_id) REFERENCES crm.opportunity (organization_id, id),
	CONSTRAINT quote_account_fkey FOREIGN KEY (organization_id, account_id) REFERENCES crm.account (organization_id, id),
	CONSTRAINT quote_contact_fkey FOREIGN KEY (organization_id, contact_id) REFERENCES crm.contact (organization_id, id),
	CONSTRAINT quote_price_book_fkey FOREIGN KEY (organization_id, price_book_id) REFERENCES crm.price_book (organization_id, id),
	CONSTRAINT quote_owner_fkey FOREIGN KEY (organization_id, owner_id) REFERENCES crm.app_user (organization_id, id),
	CONSTRAINT quote_number_format CHECK (number ~ '^Q-[0-9]{6,}$'),
	CONSTRAINT quote_name_not_blank CHECK (pg_catalog.btrim(name) <> ''),
	CONSTRAINT quote_status_valid CHECK (status IN ('draft', 'sent', 'accepted', 'rejected', 'expired')),
	CONSTRAINT quote_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
	CONSTRAINT quote_valid_until_after_date CHECK (valid_until >= quote_date),
	CONSTRAINT quote_totals_consistent CHECK (total = subtotal - discount_total + tax_total AND line_count >= 0),
	CONSTRAINT quote_sent_consistent CHECK ((version > 0) = (sent_at IS NOT NULL)),
	CONSTRAINT quote_accepted_consistent CHECK ((status = 'accepted') = (accepted_at IS NOT NULL))
);
CREATE INDEX quote_opportunity_idx ON crm.quote (organization_id, opportunity_id) WHERE opportunity_id IS NOT NULL;
CREATE INDEX quote_account_idx ON crm.quote (organization_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX quote_status_idx ON crm.quote (organization_id, status, valid_until) WHERE deleted_at IS NULL;
-- at most one accepted quote per deal: the one its line items came from
CREATE UNIQUE INDEX quote_one_accepted ON crm.quote (organization_id, opportunity_id)
	WHERE status = 'accepted' AND deleted_at IS NULL;
COMMENT ON TABLE crm.quote IS 'A priced offer to a customer, numbered gap-free per organization (Q-000001, ...); its totals are kept from its line items; sending freezes a version (crm.quote_version); accepting can copy its lines to the opportunity.';
COMMENT ON COLUMN crm.quote.number IS 'Q- and at least six digits, given out in order per organization without gaps (assigned; not writable).';
COMMENT ON COLUMN crm.quote.name IS 'Quote title.';
COMMENT ON COLUMN crm.quote.opportunity_id IS 'The crm.opportunity quoted for (account, contact and currency default from it).';
COMMENT ON COLUMN crm.quote.account_id IS 'The crm.account quoted to.';
COMMENT ON COLUMN crm.quote.contact_id IS 'The crm.contact the quote is addressed to.';
COMMENT ON COLUMN crm.quote.price_book_id IS 'The crm.price_book lines are priced from (NULL: the active standard book of the currency, else each product''s own price).';
COMMENT ON COLUMN crm.quote.status IS 'draft, sent, accepted, rejected or expired: draft -> sent -> accepted | rejected | expired, and sent -> draft to revise.';
COMMENT ON COLUMN crm.quote.currency IS 'ISO 4217 code of every amount; from the opportunity, else the organization''s default. Fixed once the quote has lines.';
COMMENT ON COLUMN crm.quote.quote_date IS 'Date of the quote: price books must be valid on it.';
COMMENT ON COLUMN crm.quote.valid_until IS 'Last day the offer stands; crm.expire_quotes() expires sent quotes after it.';
COMMENT ON COLUMN crm.quote.terms IS 'Terms and conditions printed on the quote.';
COMMENT ON COLUMN crm.quote.description IS 'Free description.';
COMMENT ON COLUMN crm.quote.sync_on_accept IS 'Accepting the quote replaces the opportunity''s line items with the quote''s (and so its amount).';
COMMENT ON COLUMN crm.quote.line_count IS 'Number of line items (maintained).';
COMMENT ON COLUMN crm.quote.subtotal IS 'Sum of the lines'' subtotals (maintained).';
COMMENT ON COLUMN crm.quote.discount_total IS 'Sum of the lines'' discount amounts (maintained).';
COMMENT ON COLUMN crm.quote.tax_total IS 'Sum of the lines'' tax amounts (maintained).';
COMMENT ON COLUMN crm.quote.total IS 'Sum of the lines'' totals = subtotal - discount_total + tax_total (maintained).';
COMMENT ON COLUMN crm.quote.version IS 'How many times the quote was sent: the number of its latest crm.quote_version (maintained).';
COMMENT ON COLUMN crm.quote.sent_at IS 'When the quote was last sent (maintained).';
COMMENT ON COLUMN crm.quote.accepted_at IS 'When the quote was accepted (maintained; set exactly when accepted).';
SELECT crm._setup_tenant_table('crm.quote');

CREATE TABLE crm.quote_line_item (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	quote_id	uuid NOT NULL,
	product_id	uuid,
	position	integer NOT NULL DEFAULT 0,
	description	text,
	quantity	numeric(14,4) NOT NULL DEFAULT 1,
	list_price	numeric(18,2) NOT NULL,
	unit_price	numeric(18,2),
	discount_percent numeric(5,2) NOT NULL DEFAULT 0,
	tax_rate	numeric(6,3) NOT NULL,
	subtotal	numeric(18,2) GENERATED ALWAYS AS (pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)) STORED,
	discount_amount numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2)) STORED,
	tax_amount	numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round((pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)
						  - pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2))
						 * tax_rate / 100, 2)) STORED,
	line_total	numeric(18,2) GENERATED ALWAYS AS (
		pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)
		- pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2)
		+ pg_catalog.round((pg_catalog.round(quantity * coalesce(unit_price, list_price), 2)
							- pg_catalog.round(pg_catalog.round(quantity * coalesce(unit_price, list_price), 2) * discount_percent / 100, 2))
						   * tax_rate / 100, 2)) STORED,
	created_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_by	uuid,
	updated_by	uuid,
	CONSTRAINT quote_line_item_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT quote_line_item_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT quote_line_item_quote_fkey FOREIGN KEY (organization_id, quote_id)
		REFERENCES crm.quote (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT quote_line_item_product_fkey FOREIGN KEY (organization_id, product_id)
		REFERENCES crm.product (organization_id, id),
	CONSTRAINT quote_line_item_priced CHECK (product_id IS NOT NULL OR pg_catalog.btrim(description) <> ''),
	CONSTRAINT quote_line_item_quantity_nonnegative CHECK (quantity >= 0),
	CONSTRAINT quote_line_item_list_price_nonnegative CHECK (list_price >= 0),
	CONSTRAINT quote_line_item_unit_price_nonnegative CHECK (unit_price >= 0),
	CONSTRAINT quote_line_item_discount_range CHECK (discount_percent BETWEEN 0 AND 100),
	CONSTRAINT quote_line_item_tax_rate_range CHECK (tax_rate BETWEEN 0 AND 100)
);
CREATE INDEX quote_line_item_quote_idx ON crm.quote_line_item (organization_id, quote_id, position);
CREATE INDEX quote_line_item_product_idx ON crm.quote_line_item (organization_id, product_id) WHERE product_id IS NOT NULL;
COMMENT ON TABLE crm.quote_line_item IS 'A line of a quote: quantity x price, less a discount, plus tax, every amount rounded to cents half up; the quote''s totals are the sums of its lines.';
COMMENT ON COLUMN crm.quote_line_item.quote_id IS 'The crm.quote.';
COMMENT ON COLUMN crm.quote_line_item.product_id IS 'The crm.product (NULL: a free line described by description, priced by list_price).';
COMMENT ON COLUMN crm.quote_line_item.position IS 'Order of the line on the quote.';
COMMENT ON COLUMN crm.quote_line_item.description IS 'Line text (required without a product).';
COMMENT ON COLUMN crm.quote_line_item.quantity IS 'Units (0 or more; up to 4 decimals).';
COMMENT ON COLUMN crm.quote_line_item.list_price IS 'List price of one unit, in the quote''s currency: from the quote''s price book when not given.';
COMMENT ON COLUMN crm.quote_line_item.unit_price IS 'Price of one unit set by hand (overrides the list price); NULL: the list price.';
COMMENT ON COLUMN crm.quote_line_item.discount_percent IS 'Discount in percent (0-100) of the subtotal.';
COMMENT ON COLUMN crm.quote_line_item.tax_rate IS 'Tax rate in percent (0-100) of the discounted amount; the product''s when not given (0 without a product).';
COMMENT ON COLUMN crm.quote_line_item.subtotal IS 'quantity x (unit_price, else list_price), rounded to cents half up (generated).';
COMMENT ON COLUMN crm.quote_line_item.discount_amount IS 'subtotal x discount_percent / 100, rounded to cents half up (generated).';
COMMENT ON COLUMN crm.quote_line_item.tax_amount IS '(subtotal - discount_amount) x tax_rate / 100, rounded to cents half up (generated).';
COMMENT ON COLUMN crm.quote_line_item.line_total IS 'subtotal - discount_amount + tax_amount (generated).';
SELECT crm._setup_tenant_table('crm.quote_line_item', label => 'quote line item');

-- What a sent quote said: one row per sending, never changed afterwards.
CREATE TABLE crm.quote_version (
	id			uuid NOT NULL DEFAULT crm.uuid_v7(),
	organization_id uuid NOT NULL DEFAULT crm.current_org(),
	quote_id	uuid NOT NULL,
	version		integer NOT NULL,
	number		text NOT NULL,
	name		text NOT NULL,
	currency	char(3) NOT NULL,
	quote_date	date NOT NULL,
	valid_until	date,
	terms		text,
	subtotal	numeric(18,2) NOT NULL,
	discount_total numeric(18,2) NOT NULL,
	tax_total	numeric(18,2) NOT NULL,
	total		numeric(18,2) NOT NULL,
	lines		jsonb NOT NULL,
	sent_at		timestamptz NOT NULL,
	sent_by		uuid,
	CONSTRAINT quote_version_pkey PRIMARY KEY (organization_id, id),
	CONSTRAINT quote_version_organization_fkey FOREIGN KEY (organization_id) REFERENCES crm.organization (id),
	CONSTRAINT quote_version_quote_fkey FOREIGN KEY (organization_id, quote_id)
		REFERENCES crm.quote (organization_id, id) ON DELETE CASCADE,
	CONSTRAINT quote_version_key UNIQUE (quote_id, version, organization_id),
	CONSTRAINT quote_version_lines_array CHECK (jsonb_typeof(lines) = 'array')
);
COMMENT ON TABLE crm.quote_version IS 'A quote as it was sent: header, totals and lines (jsonb), one row per sending; read-only, never changed by later edits of the quote.';
COMMENT ON COLUMN crm.quote_version.quote_id IS 'The crm.quote.';
COMMENT ON COLUMN crm.quote_version.version IS '1 for the first sending, 2 for the next, ...';
COMMENT ON COLUMN crm.quote_version.number IS 'The quote number.';
COMMENT ON COLUMN crm.quote_version.name IS 'The quote title when sent.';
COMMENT ON COLUMN crm.quote_version.currency IS 'Currency of the amounts.';
COMMENT ON COLUMN crm.quote_version.quote_date IS 'Quote date when sent.';
COMMENT ON COLUMN crm.quote_version.valid_until IS 'Validity when sent.';
COMMENT ON COLUMN crm.quote_version.terms IS 'Terms when sent.';
COMMENT ON COLUMN crm.quote_version.subtotal IS 'Subtotal when sent.';
COMMENT ON COLUMN crm.quote_version.discount_total IS 'Discount total when sent.';
COMMENT ON COLUMN crm.quote_version.tax_total IS 'Tax total when sent.';
COMMENT ON COLUMN crm.quote_version.total IS 'Total when sent.';
COMMENT ON COLUMN crm.quote_version.lines IS 'The lines when sent, in order: a JSON array of objects (id, position, product_id, description, quantity, list_price, unit_price, discount_percent, tax_rate, subtotal, discount_amount, tax_amount, line_total).';
COMMENT ON COLUMN crm.quote_version.sent_at IS 'When it was sent.';
COMMENT ON COLUMN crm.quote_version.sent_by IS 'The crm.app_user who sent it (NULL: a system write).';
SELECT crm._setup_tenant_table('crm.quote_version', label => 'quote version');

-- BEFORE INSERT OR UPDATE OR DELETE row trigger on crm.quote.  SECURITY
-- DEFINER: it writes crm.quote_counter, which applications cannot (so no one
-- can skip or reuse a number); every query filters by the quote's
-- organization, which must be the caller's.
CREATE FUNCTION crm.trg_quote() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	n bigint;
	o record;
	allowed text[];
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_quote()', TG_NAME, TG_RELID, TG_ARGV, '{quote}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' THEN
		RAISE EXCEPTION 'crm.trg_quote() must be fired as a BEFORE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
	END IF;

	IF TG_OP = 'DELETE' THEN
		-- a number once given out stays taken
		IF current_setting('crm.allow_drop_with_data', true) IS DISTINCT FROM 'on' THEN
			RAISE EXCEPTION 'quote % cannot be deleted: quote numbers are gap-free', OLD.number
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  HINT = 'Soft delete it: UPDATE crm.quote SET deleted_at = now() WHERE id = ''…''.';
		END IF;
		RETURN OLD;
	END IF;

	IF TG_OP = 'INSERT' THEN
		IF NEW.organization_id IS DISTINCT FROM crm._caller_org() THEN
			RAISE EXCEPTION 'a quote can only be created for the current organization'
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		IF NEW.number IS NOT NULL THEN
			RAISE EXCEPTION 'quote numbers are assigned, not given'
				USING ERRCODE = 'generated_always',
					  HINT = 'Leave number out: the next number of the organization is assigned.';
		END IF;
		IF NEW.status <> 'draft' THEN
			RAISE EXCEPTION 'a new quote is a draft, not %', NEW.status
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Insert it as a draft, add its lines, then UPDATE its status to sent.';
		END IF;
		IF NEW.opportunity_id IS NOT NULL THEN
			SELECT x.account_id, x.contact_id, x.currency INTO o FROM crm.opportunity x
			 WHERE x.organization_id = NEW.organization_id AND x.id = NEW.opportunity_id;
			IF FOUND THEN
				NEW.account_id := coalesce(NEW.account_id, o.account_id);
				NEW.contact_id := coalesce(NEW.contact_id, o.contact_id);
				NEW.currency := coalesce(NEW.currency, o.currency);
			END IF;
		END IF;
		IF NEW.currency IS NULL THEN
			SELECT g.default_currency INTO NEW.currency FROM crm.organization g WHERE g.id = NEW.organization_id;
		END IF;
		NEW.line_count := 0;
		NEW.subtotal := 0;
		NEW.discount_total := 0;
		NEW.tax_total := 0;
		NEW.total := 0;
		NEW.version := 0;
		NEW.sent_at := NULL;
		NEW.accepted_at := NULL;
		-- the next number: this row stays locked until the transaction ends
		INSERT INTO crm.quote_counter AS k (organization_id, last_number) VALUES (NEW.organization_id, 1)
		ON CONFLICT ON CONSTRAINT quote_counter_pkey DO UPDATE SET last_number = k.last_number + 1
		RETURNING k.last_number INTO n;
		NEW.number := 'Q-' || lpad(n::text, greatest(6, length(n::text)), '0');
		RETURN NEW;
	END IF;

	-- UPDATE
	IF NEW.number <> OLD.number THEN
		RAISE EXCEPTION 'the number of quote % cannot change', OLD.number USING ERRCODE = 'generated_always';
	END IF;
	IF pg_trigger_depth() = 1
	   AND (NEW.line_count, NEW.subtotal, NEW.discount_total, NEW.tax_total, NEW.total, NEW.version)
		   IS DISTINCT FROM (OLD.line_count, OLD.subtotal, OLD.discount_total, OLD.tax_total, OLD.total, OLD.version) THEN
		RAISE EXCEPTION 'the totals of quote % are kept from its line items', OLD.number
			USING ERRCODE = 'generated_always',
				  HINT = 'Change the line items (crm.quote_line_item) instead.';
	END IF;
	IF OLD.line_count > 0 AND (NEW.currency <> OLD.currency OR NEW.price_book_id IS DISTINCT FROM OLD.price_book_id) THEN
		RAISE EXCEPTION 'the % of quote % cannot change while it has line items',
			CASE WHEN NEW.currency <> OLD.currency THEN 'currency' ELSE 'price book' END, OLD.number
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  DETAIL = 'Its lines were priced in it.';
	END IF;
	IF NEW.status <> OLD.status THEN
		allowed := CASE OLD.status
					WHEN 'draft' THEN ARRAY['sent']
					WHEN 'sent' THEN ARRAY['draft', 'accepted', 'rejected', 'expired']
					ELSE ARRAY[]::text[] END;
		IF NEW.status <> ALL (allowed) THEN
			RAISE EXCEPTION 'quote % cannot go from % to %', OLD.number, OLD.status, NEW.status
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = CASE WHEN cardinality(allowed) = 0 THEN format('A quote that is %s is final.', OLD.status)
								   ELSE format('From %s a quote can go to: %s.', OLD.status, array_to_string(allowed, ', ')) END,
					  HINT = 'A quote goes draft -> sent -> accepted, rejected or expired; sent -> draft revises it.';
		END IF;
		IF NEW.status = 'sent' THEN
			IF OLD.line_count = 0 THEN
				RAISE EXCEPTION 'quote % has no line items to send', OLD.number USING ERRCODE = 'object_not_in_prerequisite_state';
			END IF;
			NEW.version := OLD.version + 1;
			NEW.sent_at := pg_catalog.now();
		ELSIF NEW.status = 'accepted' THEN
			NEW.accepted_at := pg_catalog.now();
		END IF;
	ELSE
		NEW.version := OLD.version;
		NEW.sent_at := OLD.sent_at;
		NEW.accepted_at := OLD.accepted_at;
	END IF;
	RETURN NEW;
END;
$$;
COMMENT ON FUNCTION crm.trg_quote() IS
	'BEFORE INSERT OR UPDATE OR DELETE row trigger on crm.quote: assigns the next gap-free number (crm.quote_counter), defaults account, contact and currency from the opportunity, keeps the totals read-only, checks status transitions (sending needs lines and counts a version), refuses hard deletes.';
CREATE TRIGGER crm_30_quote BEFORE INSERT OR UPDATE OR DELETE ON crm.quote
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote('quote');

-- AFTER UPDATE OF status row trigger on crm.quote: sending freezes a
-- version (SECURITY DEFINER: crm.quote_version is read-only to applications;
-- the query filters by the quote's organization).
CREATE FUNCTION crm.trg_quote_freeze() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_quote_freeze()', TG_NAME, TG_RELID, TG_ARGV, '{quote}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR TG_OP <> 'UPDATE' THEN
		RAISE EXCEPTION 'crm.trg_quote_freeze() must be fired as an AFTER UPDATE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' OR NEW.version = OLD.version THEN
		RETURN NULL;
	END IF;
	INSERT INTO crm.quote_version (organization_id, quote_id, version, number, name, currency, quote_date, valid_until,
								   terms, subtotal, discount_total, tax_total, total, lines, sent_at, sent_by)
	SELECT NEW.organization_id, NEW.id, NEW.version, NEW.number, NEW.name, NEW.currency, NEW.quote_date, NEW.valid_until,
		   NEW.terms, NEW.subtotal, NEW.discount_total, NEW.tax_total, NEW.total,
		   coalesce(jsonb_agg(jsonb_build_object(
				'id', l.id, 'position', l.position, 'product_id', l.product_id, 'description', l.description,
				'quantity', l.quantity, 'list_price', l.list_price, 'unit_price', l.unit_price,
				'discount_percent', l.discount_percent, 'tax_rate', l.tax_rate, 'subtotal', l.subtotal,
				'discount_amount', l.discount_amount, 'tax_amount', l.tax_amount, 'line_total', l.line_total)
				ORDER BY l.position, l.id), '[]'::jsonb),
		   NEW.sent_at, crm.acting_user()
	  FROM crm.quote_line_item l
	 WHERE l.organization_id = NEW.organization_id AND l.quote_id = NEW.id;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_quote_freeze() IS
	'AFTER UPDATE OF status row trigger on crm.quote: on sending, stores the quote with its lines as the next crm.quote_version.';
CREATE TRIGGER crm_40_freeze AFTER UPDATE OF status ON crm.quote
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_freeze('quote');

-- AFTER UPDATE OF status row trigger on crm.quote: accepting a quote with
-- sync_on_accept replaces the opportunity's line items with copies of the
-- quote's (whose totals then make the opportunity's amount).  Runs as the
-- caller: it writes what the caller could write.
CREATE FUNCTION crm.trg_quote_accept() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	cur char(3);
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_quote_accept()', TG_NAME, TG_RELID, TG_ARGV, '{quote}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'AFTER' OR TG_OP <> 'UPDATE' THEN
		RAISE EXCEPTION 'crm.trg_quote_accept() must be fired as an AFTER UPDATE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' OR NEW.status <> 'accepted' OR OLD.status = 'accepted'
	   OR NOT NEW.sync_on_accept OR NEW.opportunity_id IS NULL THEN
		RETURN NULL;
	END IF;
	SELECT x.currency INTO cur FROM crm.opportunity x
	 WHERE x.organization_id = NEW.organization_id AND x.id = NEW.opportunity_id FOR UPDATE;
	IF cur IS DISTINCT FROM NEW.currency THEN
		RAISE EXCEPTION 'quote % is in %, its opportunity in %', NEW.number, NEW.currency, cur
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Accept it with sync_on_accept = false, or quote in the opportunity''s currency.';
	END IF;
	DELETE FROM crm.opportunity_line_item l
	 WHERE l.organization_id = NEW.organization_id AND l.opportunity_id = NEW.opportunity_id;
	INSERT INTO crm.opportunity_line_item (organization_id, opportunity_id, product_id, price_book_id, position,
										   description, quantity, list_price, unit_price, discount_percent)
	SELECT l.organization_id, NEW.opportunity_id, l.product_id, NEW.price_book_id, l.position,
		   l.description, l.quantity, l.list_price, l.unit_price, l.discount_percent
	  FROM crm.quote_line_item l
	 WHERE l.organization_id = NEW.organization_id AND l.quote_id = NEW.id
	 ORDER BY l.position, l.id;
	RETURN NULL;
END;
$$;
COMMENT ON FUNCTION crm.trg_quote_accept() IS
	'AFTER UPDATE OF status row trigger on crm.quote: accepting a quote with sync_on_accept replaces its opportunity''s line items with the quote''s (so the amount follows).';
CREATE TRIGGER crm_45_accept AFTER UPDATE OF status ON crm.quote
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_accept('quote');

-- BEFORE UPDATE row trigger on crm.quote_version: a sent version is final.
CREATE FUNCTION crm.trg_quote_version_frozen() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	PERFORM crm._trigger_table_ok('crm.trg_quote_version_frozen()', TG_NAME, TG_RELID, TG_ARGV, '{quote_version}');
	IF TG_LEVEL <> 'ROW' OR TG_WHEN <> 'BEFORE' THEN
		RAISE EXCEPTION 'crm.trg_quote_version_frozen() must be fired as a BEFORE row trigger'
			USING ERRCODE = 'trigger_protocol_violated';
	END IF;
	IF current_setting('crm.restoring', true) = 'on' THEN
		RETURN NEW;
	END IF;
	RAISE EXCEPTION 'version % of quote % was sent and cannot change', OLD.version, OLD.number
		USING ERRCODE = 'object_not_in_prerequisite_state',
			  HINT = 'Revise the quote (UPDATE crm.quote SET status = ''draft''), edit it and send it again: that makes the next version.';
END;
$$;
COMMENT ON FUNCTION crm.trg_quote_version_frozen() IS
	'BEFORE UPDATE row trigger on crm.quote_version: refuses every change of a sent version.';
CREATE TRIGGER crm_30_frozen BEFORE UPDATE ON crm.quote_version
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_version_frozen('quote_version');

-- BEFORE INSERT OR UPDATE row trigger on crm.quote_line_item: list price
-- from the quote's price book and tax rate from the product when not given;
-- the lines of a final quote (accepted, rejected, expired) are fixed.
CREATE FUNCTION crm.trg_quote_line_price() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'quote_line_price';	-- src/quotes.c
COMMENT ON FUNCTION crm.trg_quote_line_price() IS
	'BEFORE INSERT OR UPDATE row trigger on crm.quote_line_item: fills list_price from the quote''s price book (crm._list_price) and tax_rate from the product when not given; a line cannot move to another quote.';
CREATE TRIGGER crm_30_price BEFORE INSERT OR UPDATE ON crm.quote_line_item
	FOR EACH ROW EXECUTE FUNCTION crm.trg_quote_line_price('quote_line_item');

-- AFTER statement triggers on crm.quote_line_item (one per event): the
-- totals of every quote the statement touched become the sums over its
-- lines, in one UPDATE, after locking those quotes in key order (the same
-- reasoning as crm.trg_opportunity_amount: exact at commit).  Only the
-- lines of a draft change: what was sent is what is accepted.
CREATE FUNCTION crm.trg_quote_totals() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'quote_totals';	-- src/quotes.c
COMMENT ON FUNCTION crm.trg_quote_totals() IS
	'AFTER INSERT/UPDATE/DELETE statement trigger on crm.quote_line_item: sets line_count, subtotal, discount_total, tax_total and total of each quote the statement touched to the sums over its lines (one UPDATE per statement; quotes locked in key order first); refuses changes to the lines of a quote that is not a draft.';
CREATE TRIGGER crm_50_totals_insert AFTER INSERT ON crm.quote_line_item
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_quote_totals('quote_line_item');
CREATE TRIGGER crm_50_totals_update AFTER UPDATE ON crm.quote_line_item
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_quote_totals('quote_line_item');
CREATE TRIGGER crm_50_totals_delete AFTER DELETE ON crm.quote_line_item
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION crm.trg_quote_totals('quote_line_item');

-- ---------------------------------------------------------------------------
-- Expiry (a job) and drift checks
-- ---------------------------------------------------------------------------

-- Expire the current organization's sent quotes whose validity ended before
-- the given day.  Returns how many.
CREATE FUNCTION crm.expire_quotes(on_date date DEFAULT CURRENT_DATE) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	org uuid := crm.current_org();
	n bigint;
BEGIN
	IF on_date IS NULL OR NOT isfinite(on_date) THEN
		RAISE EXCEPTION 'expire_quotes needs a finite day, not %', coalesce(on_date::text, 'NULL')
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE crm.quote x SET status = 'expired'
	 WHERE x.organization_id = org AND x.status = 'sent' AND x.valid_until < on_date AND x.deleted_at IS NULL;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END;
$$;
COMMENT ON FUNCTION crm.expire_quotes(date) IS
	'Marks the current organization''s sent quotes whose valid_until is before on_date (default today) expired; returns how many.';

-- The job: crm.expire_quotes() for every organization in its own context.
CREATE FUNCTION crm.expire_all_quotes() RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, crm, pg_temp
AS $$
DECLARE
	o record;
	total bigint := 0;
BEGIN
	FOR o IN SELECT DISTINCT x.organization_id FROM crm.quote x WHERE x.status = 'sent' ORDER BY 1 LOOP
		BEGIN
			PERFORM set_config('crm.organization_id', o.organization_id::text, true);
			total := total + crm.expire_quotes();
		EXCEPTION WHEN OTHERS THEN
			RAISE WARNING 'expiring the quotes of organization % failed: %', o.organization_id, SQLERRM;
		END;
	END LOOP;
	RETURN total;
END;
$$;
COMMENT ON FUNCTION crm.expire_all_quotes() IS
	'Job: crm.expire_quotes() for every organization with sent quotes, each in its own tenant context (one failure does not stop the others). Returns how many quotes expired.';
INSERT INTO crm.job (name, schedule, command, description) VALUES
	('expire_quotes', '15 0 * * *', 'SELECT crm.expire_all_quotes()',
	 'Marks sent quotes whose valid_until has passed expired.');

-- Drift check: quote totals and deal amounts against their lines.
CREATE FUNCTION crm.check_quote_totals()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH s AS (
		SELECT q.organization_id, q.id, count(l.id)::integer AS n, coalesce(sum(l.subtotal), 0) AS subtotal,
			   coalesce(sum(l.discount_amount), 0) AS discount, coalesce(sum(l.tax_amount), 0) AS tax,
			   coalesce(sum(l.line_total), 0) AS total
		  FROM crm.quote q
		  LEFT JOIN crm.quote_line_item l ON l.organization_id = q.organization_id AND l.quote_id = q.id
		 GROUP BY q.organization_id, q.id)
	SELECT 'quote'::text, q.id,
		   format('%s lines, subtotal %s, discount %s, tax %s, total %s', s.n, s.subtotal, s.discount, s.tax, s.total),
		   format('%s lines, subtotal %s, discount %s, tax %s, total %s', q.line_count, q.subtotal, q.discount_total, q.tax_total, q.total)
	  FROM crm.quote q JOIN s ON s.organization_id = q.organization_id AND s.id = q.id
	 WHERE (q.line_count, q.subtotal, q.discount_total, q.tax_total, q.total) IS DISTINCT FROM (s.n, s.subtotal, s.discount, s.tax, s.total)
	UNION ALL
	SELECT 'opportunity'::text, o.id, format('amount %s (its line items)', sum(l.total_price)), format('amount %s', o.amount)
	  FROM crm.opportunity o
	  JOIN crm.opportunity_line_item l ON l.organization_id = o.organization_id AND l.opportunity_id = o.id
	 GROUP BY o.organization_id, o.id, o.amount
	HAVING o.amount <> sum(l.total_price)
	 ORDER BY 1, 2;
END;
$$;
COMMENT ON FUNCTION crm.check_quote_totals() IS
	'crm.verify() check: quotes whose line count or totals differ from the sums over their lines, and opportunities with line items whose amount differs from their total.';
INSERT INTO crm.verify_check VALUES
	('quote_totals', 'crm.check_quote_totals()', 'Quote totals and the amounts of opportunities with line items equal the sums over their lines.');

-- Drift check: each organization's quote numbers are Q-000001 up to its
-- counter, each once.
CREATE FUNCTION crm.check_quote_numbers()
RETURNS TABLE (entity text, id uuid, expected text, actual text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, crm, pg_temp
AS $$
BEGIN
	RETURN QUERY
	WITH q AS (
		SELECT x.organization_id, count(*) AS n, max(substr(x.number, 3)::bigint) AS top,
			   count(DISTINCT substr(x.number, 3)::bigint) AS distinct_n
		  FROM crm.quote x GROUP BY x.organization_id)
	SELECT 'quote_counter'::text, coalesce(q.organization_id, k.organization_id),
		   format('numbers 1 to %s, each once', coalesce(k.last_number, 0)),
		   format('%s quotes, %s distinct numbers, highest %s', coalesce(q.n, 0), coalesce(q.distinct_n, 0), coalesce(q.top, 0))
	  FROM q FULL JOIN crm.quote_counter k ON k.organization_id = q.organization_id
	 WHERE NOT (coalesce(q.n, 0) = coalesce(k.last_number, 0) AND coalesce(q.top, 0) = coalesce(k.last_number, 0)
				AND coalesce(q.distinct_n, 0) = coalesce(q.n, 0))
	 ORDER BY 2;
END;
$$;
COMMENT ON FUNCTION crm.check_quote_numbers() IS
	'crm.verify() check: organizations whose quote numbers are not exactly 1 to their counter''s last number, each once (gap-free).';
INSERT INTO crm.verify_check VALUES
	('quote_numbers', 'crm.check_quote_numbers()', 'Each organization''s quote numbers run from 1 to its counter without gaps or repeats.');
