// Cases for the phone parity test (test/scripts/phone_parity.sh), with
// libphonenumber (npm google-libphonenumber) as the oracle: every example
// number of its metadata for the 40 regions and its valid variants (last
// digit changed), in several typed forms (formatted, plain digits with the
// trunk prefix, as dialled from other countries, as pasted with no-break
// spaces and en dashes, in full-width forms), and what libphonenumber reads
// each as.  Output: TSV
//   region  type  form  input  default_country  lib_e164  lib_national  lib_international
// (the last three "-" when libphonenumber cannot parse the input or the
// parsed number is not valid).
'use strict';
const lpn = require('google-libphonenumber');
const util = lpn.PhoneNumberUtil.getInstance();
const PNF = lpn.PhoneNumberFormat;
const PNT = lpn.PhoneNumberType;

const regions = ('US CA GB DE FR IT ES NL BE CH AT SE NO DK FI PL IE PT BR MX ' +
	'AR CL CO IN CN JP KR AU NZ SG HK ZA NG EG AE SA IL TR RU UA').split(' ');
const types = ['FIXED_LINE', 'MOBILE', 'TOLL_FREE', 'PREMIUM_RATE', 'SHARED_COST',
	'VOIP', 'PERSONAL_NUMBER', 'PAGER', 'UAN', 'VOICEMAIL'];

function read(input, region) {
	try {
		const n = util.parse(input, region || 'ZZ');
		if (!util.isValidNumber(n))
			return ['-', '-', '-'];
		return [util.format(n, PNF.E164), util.format(n, PNF.NATIONAL), util.format(n, PNF.INTERNATIONAL)];
	} catch (e) {
		return ['-', '-', '-'];
	}
}

// Generated variants of an example number: its last digit replaced by
// each other digit, kept when libphonenumber finds the result valid (for
// the same region).
function variants(n, region) {
	const nsn = util.getNationalSignificantNumber(n);
	const cc = n.getCountryCode();
	const res = [];
	for (let d = 0; d <= 9; d++) {
		const v = nsn.slice(0, -1) + d;
		if (v === nsn)
			continue;
		try {
			const m = util.parse('+' + cc + v, 'ZZ');
			if (util.isValidNumberForRegion(m, region))
				res.push(m);
		} catch (e) {
			/* not a number: no variant */
		}
	}
	return res;
}

// The national digits with the national (trunk) prefix, unformatted, as
// dialled: "02079460958".
function trunkDigits(n, region) {
	const np = util.getMetadataForRegion(region).getNationalPrefix() || '';
	return np + util.getNationalSignificantNumber(n);
}

// As copied from a web page or a word processor: no-break spaces, en dashes.
function pasted(s) {
	return s.replace(/ /g, '\u00a0').replace(/-/g, '\u2013');
}

// In full-width forms, as typed with an East Asian input method.
function fullwidth(s) {
	return s.replace(/[0-9+()\-]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + 0xFEE0))
		.replace(/ /g, '\u3000');
}

const out = [];
for (const region of regions) {
	for (const type of types) {
		const example = util.getExampleNumberForType(region, PNT[type]);
		if (!example)
			continue;
		for (const n of [example].concat(variants(example, region))) {
		const forms = [
			['national_digits', util.getNationalSignificantNumber(n), region],
			['national', util.format(n, PNF.NATIONAL), region],
			['international', util.format(n, PNF.INTERNATIONAL), ''],
			['e164', util.format(n, PNF.E164), ''],
			['from_us', util.formatOutOfCountryCallingNumber(n, 'US'), 'US'],
			['from_de', util.formatOutOfCountryCallingNumber(n, 'DE'), 'DE'],
			['from_au', util.formatOutOfCountryCallingNumber(n, 'AU'), 'AU'],
			['from_jp', util.formatOutOfCountryCallingNumber(n, 'JP'), 'JP'],
			['trunk_digits', trunkDigits(n, region), region],
			['pasted', pasted(util.format(n, PNF.INTERNATIONAL)), ''],
			['fullwidth', fullwidth(util.format(n, PNF.NATIONAL)), region],
		];
		const seen = new Set();
		for (const [form, input, dc] of forms) {
			const key = input + '\u0000' + dc;
			if (seen.has(key))
				continue;
			seen.add(key);
			const [e164, national, international] = read(input, dc);
			out.push([region, n === example ? type.toLowerCase() : type.toLowerCase() + '_variant',
					  form, input, dc, e164, national, international].join('\t'));
		}
		}
	}
}
process.stdout.write(out.join('\n') + '\n');
