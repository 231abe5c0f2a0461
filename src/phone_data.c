/*-------------------------------------------------------------------------
 *
 * phone_data.c
 *	  Numbering-plan tables of the crm phone parser and their lookups.
 *
 * Contents:
 *	- every assigned ITU-T E.164 country calling code (1..3 digits) with the
 *	  range of national significant number (NSN) lengths in use, a few
 *	  behaviour flags and the main region;
 *	- every region (ISO 3166 alpha-2; XK for Kosovo, AC/TA for Ascension and
 *	  Tristan da Cunha) with its calling code, international dialling
 *	  prefixes, national trunk prefix and related parsing hints;
 *	- leading-digit rules that tell regions apart inside shared codes (+1
 *	  area codes of Canada and the Caribbean, +7 KZ, +44 GG/JE/IM, ...).
 *
 * Facts were checked against the ITU-T list of assigned country codes and
 * national numbering plans as summarised in public numbering-plan data.
 * Codes absent from the table (e.g. +0, +28x, +210, +259, +384, +388, +422,
 * +671, +684, +801..+807, +969, +999) are unassigned, spare or
 * reserved (e.g. +379 Vatican City, which in practice uses +39 06 698).
 *
 * Non-geographic codes (+800 international freephone, +808 shared cost,
 * +870 Inmarsat, +878 UPT, +881 GMSS satellite, +882/+883 international
 * networks, +888 OCHA, +979 international premium rate) map to region
 * "001", as is customary; they cannot be used as a default country.
 *
 * Table order matters: phone_cc_table is sorted by code, phone_region_table
 * by alpha-2 code, phone_subregion_table by (code, prefix); the unit tests
 * check this.  All tables are const: there is no mutable state.
 *
 *-------------------------------------------------------------------------
 */
#include "phone_data.h"

/*
 * Calling codes: {code, min NSN length, max NSN length, flags, main region}.
 * Lengths are the published ranges, clamped to [4, 15 - code length].
 */
const phone_cc_info phone_cc_table[] = {
	{1, 10, 10, PHONE_CC_NANP | PHONE_CC_NANP_310, "US"},
	{7, 10, 10, 0, "RU"},
	{20, 8, 10, PHONE_CC_STRIP_ZERO, "EG"},
	{27, 5, 10, PHONE_CC_STRIP_ZERO, "ZA"},
	{30, 10, 12, 0, "GR"},
	{31, 5, 11, PHONE_CC_STRIP_ZERO, "NL"},
	{32, 8, 9, PHONE_CC_STRIP_ZERO, "BE"},
	{33, 9, 9, PHONE_CC_STRIP_ZERO, "FR"},
	{34, 9, 9, 0, "ES"},
	{36, 8, 9, 0, "HU"},
	{39, 6, 12, 0, "IT"},
	{40, 6, 9, PHONE_CC_STRIP_ZERO, "RO"},
	{41, 9, 12, PHONE_CC_STRIP_ZERO, "CH"},
	{43, 4, 13, PHONE_CC_STRIP_ZERO, "AT"},
	{44, 7, 10, PHONE_CC_STRIP_ZERO, "GB"},
	{45, 8, 8, 0, "DK"},
	{46, 6, 12, PHONE_CC_STRIP_ZERO, "SE"},
	{47, 5, 8, 0, "NO"},
	{48, 6, 10, 0, "PL"},
	{49, 4, 13, PHONE_CC_STRIP_ZERO, "DE"},
	{51, 8, 9, PHONE_CC_STRIP_ZERO, "PE"},
	{52, 10, 10, PHONE_CC_MX_MOBILE1, "MX"},
	{53, 6, 10, PHONE_CC_STRIP_ZERO, "CU"},
	{54, 10, 11, PHONE_CC_STRIP_ZERO | PHONE_CC_AR_MOBILE15, "AR"},
	{55, 8, 11, PHONE_CC_STRIP_ZERO, "BR"},
	{56, 9, 11, 0, "CL"},
	{57, 8, 11, PHONE_CC_STRIP_ZERO, "CO"},
	{58, 10, 10, PHONE_CC_STRIP_ZERO, "VE"},
	{60, 8, 10, PHONE_CC_STRIP_ZERO, "MY"},
	{61, 5, 12, PHONE_CC_STRIP_ZERO, "AU"},
	{62, 7, 13, PHONE_CC_STRIP_ZERO, "ID"},
	{63, 6, 13, PHONE_CC_STRIP_ZERO, "PH"},
	{64, 5, 10, PHONE_CC_STRIP_ZERO, "NZ"},
	{65, 8, 11, 0, "SG"},
	{66, 8, 13, PHONE_CC_STRIP_ZERO, "TH"},
	{81, 8, 13, PHONE_CC_STRIP_ZERO, "JP"},
	{82, 5, 13, PHONE_CC_STRIP_ZERO, "KR"},
	{84, 7, 10, PHONE_CC_STRIP_ZERO, "VN"},
	{86, 7, 12, PHONE_CC_STRIP_ZERO, "CN"},
	{90, 7, 13, PHONE_CC_STRIP_ZERO, "TR"},
	{91, 8, 13, PHONE_CC_STRIP_ZERO, "IN"},
	{92, 8, 12, PHONE_CC_STRIP_ZERO, "PK"},
	{93, 9, 9, PHONE_CC_STRIP_ZERO, "AF"},
	{94, 9, 9, PHONE_CC_STRIP_ZERO, "LK"},
	{95, 6, 10, PHONE_CC_STRIP_ZERO, "MM"},
	{98, 4, 10, PHONE_CC_STRIP_ZERO, "IR"},
	{211, 9, 9, PHONE_CC_STRIP_ZERO, "SS"},
	{212, 9, 9, PHONE_CC_STRIP_ZERO, "MA"},
	{213, 8, 9, PHONE_CC_STRIP_ZERO, "DZ"},
	{216, 8, 8, 0, "TN"},
	{218, 9, 9, PHONE_CC_STRIP_ZERO, "LY"},
	{220, 7, 7, 0, "GM"},
	{221, 9, 9, 0, "SN"},
	{222, 8, 8, 0, "MR"},
	{223, 8, 8, 0, "ML"},
	{224, 8, 9, 0, "GN"},
	{225, 10, 10, 0, "CI"},
	{226, 8, 8, 0, "BF"},
	{227, 8, 8, 0, "NE"},
	{228, 8, 8, 0, "TG"},
	{229, 8, 10, 0, "BJ"},
	{230, 7, 10, 0, "MU"},
	{231, 7, 9, PHONE_CC_STRIP_ZERO, "LR"},
	{232, 8, 8, PHONE_CC_STRIP_ZERO, "SL"},
	{233, 8, 9, PHONE_CC_STRIP_ZERO, "GH"},
	{234, 8, 12, PHONE_CC_STRIP_ZERO, "NG"},
	{235, 8, 8, 0, "TD"},
	{236, 8, 8, 0, "CF"},
	{237, 8, 9, 0, "CM"},
	{238, 7, 7, 0, "CV"},
	{239, 7, 7, 0, "ST"},
	{240, 9, 9, 0, "GQ"},
	{241, 7, 8, 0, "GA"},
	{242, 9, 9, 0, "CG"},
	{243, 7, 10, PHONE_CC_STRIP_ZERO, "CD"},
	{244, 9, 9, 0, "AO"},
	{245, 7, 9, 0, "GW"},
	{246, 7, 7, 0, "IO"},
	{247, 5, 6, 0, "AC"},
	{248, 7, 7, 0, "SC"},
	{249, 9, 9, PHONE_CC_STRIP_ZERO, "SD"},
	{250, 8, 9, PHONE_CC_STRIP_ZERO, "RW"},
	{251, 9, 9, PHONE_CC_STRIP_ZERO, "ET"},
	{252, 6, 9, PHONE_CC_STRIP_ZERO, "SO"},
	{253, 8, 8, 0, "DJ"},
	{254, 7, 10, PHONE_CC_STRIP_ZERO, "KE"},
	{255, 9, 9, PHONE_CC_STRIP_ZERO, "TZ"},
	{256, 9, 9, PHONE_CC_STRIP_ZERO, "UG"},
	{257, 8, 8, 0, "BI"},
	{258, 8, 9, 0, "MZ"},
	{260, 9, 9, PHONE_CC_STRIP_ZERO, "ZM"},
	{261, 9, 9, PHONE_CC_STRIP_ZERO, "MG"},
	{262, 9, 9, PHONE_CC_STRIP_ZERO, "RE"},
	{263, 5, 10, PHONE_CC_STRIP_ZERO, "ZW"},
	{264, 8, 9, PHONE_CC_STRIP_ZERO, "NA"},
	{265, 7, 9, PHONE_CC_STRIP_ZERO, "MW"},
	{266, 8, 8, 0, "LS"},
	{267, 7, 10, 0, "BW"},
	{268, 8, 9, 0, "SZ"},
	{269, 7, 7, 0, "KM"},
	{290, 4, 5, 0, "SH"},
	{291, 7, 7, PHONE_CC_STRIP_ZERO, "ER"},
	{297, 7, 7, 0, "AW"},
	{298, 6, 6, 0, "FO"},
	{299, 6, 6, 0, "GL"},
	{350, 8, 8, 0, "GI"},
	{351, 9, 9, 0, "PT"},
	{352, 4, 11, 0, "LU"},
	{353, 7, 10, PHONE_CC_STRIP_ZERO, "IE"},
	{354, 7, 9, 0, "IS"},
	{355, 6, 9, PHONE_CC_STRIP_ZERO, "AL"},
	{356, 8, 8, 0, "MT"},
	{357, 8, 8, 0, "CY"},
	{358, 5, 12, PHONE_CC_STRIP_ZERO, "FI"},
	{359, 6, 12, PHONE_CC_STRIP_ZERO, "BG"},
	{370, 8, 8, PHONE_CC_STRIP_ZERO, "LT"},
	{371, 8, 8, 0, "LV"},
	{372, 7, 10, 0, "EE"},
	{373, 8, 8, PHONE_CC_STRIP_ZERO, "MD"},
	{374, 8, 8, PHONE_CC_STRIP_ZERO, "AM"},
	{375, 6, 11, PHONE_CC_STRIP_ZERO, "BY"},
	{376, 6, 9, 0, "AD"},
	{377, 8, 9, PHONE_CC_STRIP_ZERO, "MC"},
	{378, 8, 10, 0, "SM"},
	{380, 9, 10, PHONE_CC_STRIP_ZERO, "UA"},
	{381, 6, 12, PHONE_CC_STRIP_ZERO, "RS"},
	{382, 8, 9, PHONE_CC_STRIP_ZERO, "ME"},
	{383, 8, 12, PHONE_CC_STRIP_ZERO, "XK"},
	{385, 7, 9, PHONE_CC_STRIP_ZERO, "HR"},
	{386, 5, 8, PHONE_CC_STRIP_ZERO, "SI"},
	{387, 8, 9, PHONE_CC_STRIP_ZERO, "BA"},
	{389, 8, 8, PHONE_CC_STRIP_ZERO, "MK"},
	{420, 9, 12, 0, "CZ"},
	{421, 6, 9, PHONE_CC_STRIP_ZERO, "SK"},
	{423, 7, 9, PHONE_CC_STRIP_ZERO, "LI"},
	{500, 5, 5, 0, "FK"},
	{501, 7, 11, 0, "BZ"},
	{502, 8, 11, 0, "GT"},
	{503, 7, 11, 0, "SV"},
	{504, 8, 11, 0, "HN"},
	{505, 8, 8, 0, "NI"},
	{506, 8, 10, 0, "CR"},
	{507, 7, 11, 0, "PA"},
	{508, 6, 9, PHONE_CC_STRIP_ZERO, "PM"},
	{509, 8, 8, 0, "HT"},
	{590, 9, 9, PHONE_CC_STRIP_ZERO, "GP"},
	{591, 8, 9, PHONE_CC_STRIP_ZERO, "BO"},
	{592, 7, 7, 0, "GY"},
	{593, 8, 11, PHONE_CC_STRIP_ZERO, "EC"},
	{594, 9, 9, PHONE_CC_STRIP_ZERO, "GF"},
	{595, 6, 11, PHONE_CC_STRIP_ZERO, "PY"},
	{596, 9, 9, PHONE_CC_STRIP_ZERO, "MQ"},
	{597, 6, 7, 0, "SR"},
	{598, 4, 12, PHONE_CC_STRIP_ZERO, "UY"},
	{599, 7, 8, 0, "CW"},
	{670, 7, 8, 0, "TL"},
	{672, 6, 6, 0, "NF"},
	{673, 7, 7, 0, "BN"},
	{674, 7, 7, 0, "NR"},
	{675, 7, 8, 0, "PG"},
	{676, 5, 7, 0, "TO"},
	{677, 5, 7, 0, "SB"},
	{678, 5, 7, 0, "VU"},
	{679, 7, 11, 0, "FJ"},
	{680, 7, 7, 0, "PW"},
	{681, 6, 9, 0, "WF"},
	{682, 5, 5, 0, "CK"},
	{683, 4, 7, 0, "NU"},
	{685, 5, 10, 0, "WS"},
	{686, 5, 8, PHONE_CC_STRIP_ZERO, "KI"},
	{687, 6, 6, 0, "NC"},
	{688, 5, 7, 0, "TV"},
	{689, 6, 9, 0, "PF"},
	{690, 4, 7, 0, "TK"},
	{691, 7, 7, 0, "FM"},
	{692, 7, 7, 0, "MH"},
	{800, 8, 8, PHONE_CC_NONGEO, "001"},
	{808, 8, 8, PHONE_CC_NONGEO, "001"},
	{850, 8, 10, PHONE_CC_STRIP_ZERO, "KP"},
	{852, 5, 11, 0, "HK"},
	{853, 7, 8, 0, "MO"},
	{855, 8, 10, PHONE_CC_STRIP_ZERO, "KH"},
	{856, 8, 10, PHONE_CC_STRIP_ZERO, "LA"},
	{870, 9, 12, PHONE_CC_NONGEO, "001"},
	{878, 12, 12, PHONE_CC_NONGEO, "001"},
	{880, 6, 10, PHONE_CC_STRIP_ZERO, "BD"},
	{881, 9, 10, PHONE_CC_NONGEO, "001"},
	{882, 7, 12, PHONE_CC_NONGEO, "001"},
	{883, 8, 12, PHONE_CC_NONGEO, "001"},
	{886, 7, 11, PHONE_CC_STRIP_ZERO, "TW"},
	{888, 11, 11, PHONE_CC_NONGEO, "001"},
	{960, 7, 10, 0, "MV"},
	{961, 7, 8, PHONE_CC_STRIP_ZERO, "LB"},
	{962, 8, 9, PHONE_CC_STRIP_ZERO, "JO"},
	{963, 8, 9, PHONE_CC_STRIP_ZERO, "SY"},
	{964, 8, 10, PHONE_CC_STRIP_ZERO, "IQ"},
	{965, 7, 8, 0, "KW"},
	{966, 9, 10, PHONE_CC_STRIP_ZERO, "SA"},
	{967, 7, 9, PHONE_CC_STRIP_ZERO, "YE"},
	{968, 7, 9, 0, "OM"},
	{970, 8, 10, PHONE_CC_STRIP_ZERO, "PS"},
	{971, 5, 12, PHONE_CC_STRIP_ZERO, "AE"},
	{972, 7, 12, PHONE_CC_STRIP_ZERO, "IL"},
	{973, 8, 8, 0, "BH"},
	{974, 7, 11, 0, "QA"},
	{975, 7, 8, 0, "BT"},
	{976, 8, 10, PHONE_CC_STRIP_ZERO, "MN"},
	{977, 8, 11, PHONE_CC_STRIP_ZERO, "NP"},
	{979, 9, 9, PHONE_CC_NONGEO, "001"},
	{992, 9, 9, 0, "TJ"},
	{993, 8, 8, 0, "TM"},
	{994, 9, 9, PHONE_CC_STRIP_ZERO, "AZ"},
	{995, 9, 9, PHONE_CC_STRIP_ZERO, "GE"},
	{996, 9, 10, PHONE_CC_STRIP_ZERO, "KG"},
	{998, 9, 9, 0, "UZ"},
};
const size_t phone_cc_table_len =
	sizeof(phone_cc_table) / sizeof(phone_cc_table[0]);

/*
 * Regions: {alpha-2, code, international prefixes (besides 00), trunk
 * prefix, parse-only trunk prefixes, carrier codes after the trunk}.
 *
 * Notes on the less obvious entries:
 *	- NANP members dial 011 abroad and use 1 as trunk prefix; MH (+692) too.
 *	- IT, VA, SM, ES, PT, DK, NO, GR, PL, CZ, ... have no trunk prefix: IT,
 *	  VA and SM keep the leading 0 of fixed lines in E.164.
 *	- RU, KZ, BY, TM dial 8~10 (written 810) abroad and use 8 as trunk
 *	  prefix (BY dials 8 0 before the area code); TJ and UZ dropped their
 *	  8 trunk prefix but it is still accepted when parsing.
 *	- HU's trunk prefix is 06; LT moved from 8 to 0 (8 still accepted).
 *	- MX has no trunk prefix since 2019; the old 01/044/045 prefixes are
 *	  still accepted when parsing.
 *	- BR: 00 + carrier code abroad, 0 + carrier code + area code at home.
 *	- JP 010, AU/CX/CC 0011, KR 001/002/005/006/008, CO 005/007/009,
 *	  CU 119, KE/TZ/UG 000, NG 009, MN/GY 001, ...: carrier or national
 *	  international prefixes; only the common ones are listed.
 */
const phone_region_info phone_region_table[] = {
	{"AC", 247, "", "", "", ""},
	{"AD", 376, "", "", "", ""},
	{"AE", 971, "", "0", "", ""},
	{"AF", 93, "", "0", "", ""},
	{"AG", 1, "011", "1", "", ""},
	{"AI", 1, "011", "1", "", ""},
	{"AL", 355, "", "0", "", ""},
	{"AM", 374, "", "0", "", ""},
	{"AO", 244, "", "", "", ""},
	{"AR", 54, "", "0", "", ""},
	{"AS", 1, "011", "1", "", ""},
	{"AT", 43, "", "0", "", ""},
	{"AU", 61, "0011", "0", "", ""},
	{"AW", 297, "", "", "", ""},
	{"AX", 358, "", "0", "", ""},
	{"AZ", 994, "", "0", "", ""},
	{"BA", 387, "", "0", "", ""},
	{"BB", 1, "011", "1", "", ""},
	{"BD", 880, "", "0", "", ""},
	{"BE", 32, "", "0", "", ""},
	{"BF", 226, "", "", "", ""},
	{"BG", 359, "", "0", "", ""},
	{"BH", 973, "", "", "", ""},
	{"BI", 257, "", "", "", ""},
	{"BJ", 229, "", "", "", ""},
	{"BL", 590, "", "0", "", ""},
	{"BM", 1, "011", "1", "", ""},
	{"BN", 673, "", "", "", ""},
	{"BO", 591, "", "0", "", ""},
	{"BQ", 599, "", "", "", ""},
	{"BR", 55, "0012|0014|0015|0021|0022|0023|0025|0031|0041|0043|0055|0065|0099", "0", "", "12|14|15|21|22|23|25|31|41|43|55|65|99"},
	{"BS", 1, "011", "1", "", ""},
	{"BT", 975, "", "", "", ""},
	{"BW", 267, "", "", "", ""},
	{"BY", 375, "810", "8", "80|0", ""},
	{"BZ", 501, "", "", "", ""},
	{"CA", 1, "011", "1", "", ""},
	{"CC", 61, "0011", "0", "", ""},
	{"CD", 243, "", "0", "", ""},
	{"CF", 236, "", "", "", ""},
	{"CG", 242, "", "", "", ""},
	{"CH", 41, "", "0", "", ""},
	{"CI", 225, "", "", "", ""},
	{"CK", 682, "", "", "", ""},
	{"CL", 56, "", "", "", ""},
	{"CM", 237, "", "", "", ""},
	{"CN", 86, "", "0", "", ""},
	{"CO", 57, "005|007|009", "0", "", ""},
	{"CR", 506, "", "", "", ""},
	{"CU", 53, "119", "0", "", ""},
	{"CV", 238, "0", "", "", ""},
	{"CW", 599, "", "", "", ""},
	{"CX", 61, "0011", "0", "", ""},
	{"CY", 357, "", "", "", ""},
	{"CZ", 420, "", "", "", ""},
	{"DE", 49, "", "0", "", ""},
	{"DJ", 253, "", "", "", ""},
	{"DK", 45, "", "", "", ""},
	{"DM", 1, "011", "1", "", ""},
	{"DO", 1, "011", "1", "", ""},
	{"DZ", 213, "", "0", "", ""},
	{"EC", 593, "", "0", "", ""},
	{"EE", 372, "", "", "", ""},
	{"EG", 20, "", "0", "", ""},
	{"EH", 212, "", "0", "", ""},
	{"ER", 291, "", "0", "", ""},
	{"ES", 34, "", "", "", ""},
	{"ET", 251, "", "0", "", ""},
	{"FI", 358, "", "0", "", ""},
	{"FJ", 679, "052", "", "", ""},
	{"FK", 500, "", "", "", ""},
	{"FM", 691, "", "", "", ""},
	{"FO", 298, "", "", "", ""},
	{"FR", 33, "", "0", "", ""},
	{"GA", 241, "", "", "", ""},
	{"GB", 44, "", "0", "", ""},
	{"GD", 1, "011", "1", "", ""},
	{"GE", 995, "", "0", "", ""},
	{"GF", 594, "", "0", "", ""},
	{"GG", 44, "", "0", "", ""},
	{"GH", 233, "", "0", "", ""},
	{"GI", 350, "", "", "", ""},
	{"GL", 299, "", "", "", ""},
	{"GM", 220, "", "", "", ""},
	{"GN", 224, "", "", "", ""},
	{"GP", 590, "", "0", "", ""},
	{"GQ", 240, "", "", "", ""},
	{"GR", 30, "", "", "", ""},
	{"GT", 502, "", "", "", ""},
	{"GU", 1, "011", "1", "", ""},
	{"GW", 245, "", "", "", ""},
	{"GY", 592, "001", "", "", ""},
	{"HK", 852, "", "", "", ""},
	{"HN", 504, "", "", "", ""},
	{"HR", 385, "", "0", "", ""},
	{"HT", 509, "", "", "", ""},
	{"HU", 36, "", "06", "", ""},
	{"ID", 62, "001|007|008|009", "0", "", ""},
	{"IE", 353, "", "0", "", ""},
	{"IL", 972, "012|013|014|015|016|017|018|019", "0", "", ""},
	{"IM", 44, "", "0", "", ""},
	{"IN", 91, "", "0", "", ""},
	{"IO", 246, "", "", "", ""},
	{"IQ", 964, "", "0", "", ""},
	{"IR", 98, "", "0", "", ""},
	{"IS", 354, "", "", "", ""},
	{"IT", 39, "", "", "", ""},
	{"JE", 44, "", "0", "", ""},
	{"JM", 1, "011", "1", "", ""},
	{"JO", 962, "", "0", "", ""},
	{"JP", 81, "010", "0", "", ""},
	{"KE", 254, "000", "0", "", ""},
	{"KG", 996, "", "0", "", ""},
	{"KH", 855, "", "0", "", ""},
	{"KI", 686, "", "0", "", ""},
	{"KM", 269, "", "", "", ""},
	{"KN", 1, "011", "1", "", ""},
	{"KP", 850, "", "0", "", ""},
	{"KR", 82, "001|002|005|006|008|009|00345|00365|00391|00700|00727|0073|00755|00761|00762|00766", "0", "", ""},
	{"KW", 965, "", "", "", ""},
	{"KY", 1, "011", "1", "", ""},
	{"KZ", 7, "810", "8", "", ""},
	{"LA", 856, "", "0", "", ""},
	{"LB", 961, "", "0", "", ""},
	{"LC", 1, "011", "1", "", ""},
	{"LI", 423, "", "0", "", ""},
	{"LK", 94, "", "0", "", ""},
	{"LR", 231, "", "0", "", ""},
	{"LS", 266, "", "", "", ""},
	{"LT", 370, "", "0", "8", ""},
	{"LU", 352, "", "", "", ""},
	{"LV", 371, "", "", "", ""},
	{"LY", 218, "", "0", "", ""},
	{"MA", 212, "", "0", "", ""},
	{"MC", 377, "", "0", "", ""},
	{"MD", 373, "", "0", "", ""},
	{"ME", 382, "", "0", "", ""},
	{"MF", 590, "", "0", "", ""},
	{"MG", 261, "", "0", "", ""},
	{"MH", 692, "011", "1", "", ""},
	{"MK", 389, "", "0", "", ""},
	{"ML", 223, "", "", "", ""},
	{"MM", 95, "", "0", "", ""},
	{"MN", 976, "001", "0", "", ""},
	{"MO", 853, "", "", "", ""},
	{"MP", 1, "011", "1", "", ""},
	{"MQ", 596, "", "0", "", ""},
	{"MR", 222, "", "", "", ""},
	{"MS", 1, "011", "1", "", ""},
	{"MT", 356, "", "", "", ""},
	{"MU", 230, "020", "", "", ""},
	{"MV", 960, "019", "", "", ""},
	{"MW", 265, "", "0", "", ""},
	{"MX", 52, "", "", "01|044|045", ""},
	{"MY", 60, "", "0", "", ""},
	{"MZ", 258, "", "", "", ""},
	{"NA", 264, "", "0", "", ""},
	{"NC", 687, "", "", "", ""},
	{"NE", 227, "", "", "", ""},
	{"NF", 672, "", "", "", ""},
	{"NG", 234, "009", "0", "", ""},
	{"NI", 505, "", "", "", ""},
	{"NL", 31, "", "0", "", ""},
	{"NO", 47, "", "", "", ""},
	{"NP", 977, "", "0", "", ""},
	{"NR", 674, "", "", "", ""},
	{"NU", 683, "", "", "", ""},
	{"NZ", 64, "0161", "0", "", ""},
	{"OM", 968, "", "", "", ""},
	{"PA", 507, "", "", "", ""},
	{"PE", 51, "", "0", "", ""},
	{"PF", 689, "", "", "", ""},
	{"PG", 675, "", "", "", ""},
	{"PH", 63, "", "0", "", ""},
	{"PK", 92, "", "0", "", ""},
	{"PL", 48, "", "", "", ""},
	{"PM", 508, "", "0", "", ""},
	{"PR", 1, "011", "1", "", ""},
	{"PS", 970, "", "0", "", ""},
	{"PT", 351, "", "", "", ""},
	{"PW", 680, "011|012", "", "", ""},
	{"PY", 595, "", "0", "", ""},
	{"QA", 974, "", "", "", ""},
	{"RE", 262, "", "0", "", ""},
	{"RO", 40, "", "0", "", ""},
	{"RS", 381, "", "0", "", ""},
	{"RU", 7, "810", "8", "", ""},
	{"RW", 250, "", "0", "", ""},
	{"SA", 966, "", "0", "", ""},
	{"SB", 677, "01", "", "", ""},
	{"SC", 248, "010", "", "", ""},
	{"SD", 249, "", "0", "", ""},
	{"SE", 46, "", "0", "", ""},
	{"SG", 65, "001|002|008", "", "", ""},
	{"SH", 290, "", "", "", ""},
	{"SI", 386, "", "0", "", ""},
	{"SJ", 47, "", "", "", ""},
	{"SK", 421, "", "0", "", ""},
	{"SL", 232, "", "0", "", ""},
	{"SM", 378, "", "", "", ""},
	{"SN", 221, "", "", "", ""},
	{"SO", 252, "", "0", "", ""},
	{"SR", 597, "", "", "", ""},
	{"SS", 211, "", "0", "", ""},
	{"ST", 239, "", "", "", ""},
	{"SV", 503, "", "", "", ""},
	{"SX", 1, "011", "1", "", ""},
	{"SY", 963, "", "0", "", ""},
	{"SZ", 268, "", "", "", ""},
	{"TA", 290, "", "", "", ""},
	{"TC", 1, "011", "1", "", ""},
	{"TD", 235, "", "", "", ""},
	{"TG", 228, "", "", "", ""},
	{"TH", 66, "001|007|008|009", "0", "", ""},
	{"TJ", 992, "810", "", "8", ""},
	{"TK", 690, "", "", "", ""},
	{"TL", 670, "", "", "", ""},
	{"TM", 993, "810", "8", "", ""},
	{"TN", 216, "", "", "", ""},
	{"TO", 676, "", "", "", ""},
	{"TR", 90, "", "0", "", ""},
	{"TT", 1, "011", "1", "", ""},
	{"TV", 688, "", "", "", ""},
	{"TW", 886, "002|005|006|007|009|019", "0", "", ""},
	{"TZ", 255, "000", "0", "", ""},
	{"UA", 380, "", "0", "", ""},
	{"UG", 256, "000", "0", "", ""},
	{"US", 1, "011", "1", "", ""},
	{"UY", 598, "", "0", "", ""},
	{"UZ", 998, "", "", "8", ""},
	{"VA", 39, "", "", "", ""},
	{"VC", 1, "011", "1", "", ""},
	{"VE", 58, "", "0", "", ""},
	{"VG", 1, "011", "1", "", ""},
	{"VI", 1, "011", "1", "", ""},
	{"VN", 84, "", "0", "", ""},
	{"VU", 678, "", "", "", ""},
	{"WF", 681, "", "", "", ""},
	{"WS", 685, "0", "", "", ""},
	{"XK", 383, "", "0", "", ""},
	{"YE", 967, "", "0", "", ""},
	{"YT", 262, "", "0", "", ""},
	{"ZA", 27, "", "0", "", ""},
	{"ZM", 260, "", "0", "", ""},
	{"ZW", 263, "", "0", "", ""},
};
const size_t phone_region_table_len =
	sizeof(phone_region_table) / sizeof(phone_region_table[0]);

/*
 * Region inside a shared calling code, by leading NSN digits (longest match
 * wins; no match means the code's main region).  +1: Canadian area codes and
 * the Caribbean/Pacific NANP members; everything else in +1 is US.
 */
const phone_subregion phone_subregion_table[] = {
	{1, "204", "CA"},
	{1, "226", "CA"},
	{1, "236", "CA"},
	{1, "242", "BS"},
	{1, "246", "BB"},
	{1, "249", "CA"},
	{1, "250", "CA"},
	{1, "257", "CA"},
	{1, "263", "CA"},
	{1, "264", "AI"},
	{1, "268", "AG"},
	{1, "284", "VG"},
	{1, "289", "CA"},
	{1, "306", "CA"},
	{1, "340", "VI"},
	{1, "343", "CA"},
	{1, "345", "KY"},
	{1, "354", "CA"},
	{1, "365", "CA"},
	{1, "367", "CA"},
	{1, "368", "CA"},
	{1, "382", "CA"},
	{1, "403", "CA"},
	{1, "416", "CA"},
	{1, "418", "CA"},
	{1, "428", "CA"},
	{1, "431", "CA"},
	{1, "437", "CA"},
	{1, "438", "CA"},
	{1, "441", "BM"},
	{1, "450", "CA"},
	{1, "473", "GD"},
	{1, "474", "CA"},
	{1, "506", "CA"},
	{1, "514", "CA"},
	{1, "519", "CA"},
	{1, "548", "CA"},
	{1, "579", "CA"},
	{1, "581", "CA"},
	{1, "584", "CA"},
	{1, "587", "CA"},
	{1, "600", "CA"},
	{1, "604", "CA"},
	{1, "613", "CA"},
	{1, "639", "CA"},
	{1, "647", "CA"},
	{1, "649", "TC"},
	{1, "658", "JM"},
	{1, "664", "MS"},
	{1, "670", "MP"},
	{1, "671", "GU"},
	{1, "672", "CA"},
	{1, "683", "CA"},
	{1, "684", "AS"},
	{1, "705", "CA"},
	{1, "709", "CA"},
	{1, "721", "SX"},
	{1, "742", "CA"},
	{1, "753", "CA"},
	{1, "758", "LC"},
	{1, "767", "DM"},
	{1, "778", "CA"},
	{1, "780", "CA"},
	{1, "782", "CA"},
	{1, "784", "VC"},
	{1, "787", "PR"},
	{1, "807", "CA"},
	{1, "809", "DO"},
	{1, "819", "CA"},
	{1, "825", "CA"},
	{1, "829", "DO"},
	{1, "849", "DO"},
	{1, "867", "CA"},
	{1, "868", "TT"},
	{1, "869", "KN"},
	{1, "873", "CA"},
	{1, "876", "JM"},
	{1, "879", "CA"},
	{1, "902", "CA"},
	{1, "905", "CA"},
	{1, "939", "PR"},
	{1, "942", "CA"},
	{7, "6", "KZ"},
	{7, "7", "KZ"},
	{39, "06698", "VA"},
	{44, "1481", "GG"},
	{44, "1534", "JE"},
	{44, "1624", "IM"},
	{44, "74576", "IM"},
	{44, "7509", "JE"},
	{44, "7524", "IM"},
	{44, "7624", "IM"},
	{44, "77003", "JE"},
	{44, "77007", "JE"},
	{44, "77008", "JE"},
	{44, "7781", "GG"},
	{44, "7797", "JE"},
	{44, "7829", "JE"},
	{44, "7839", "GG"},
	{44, "79111", "GG"},
	{44, "79117", "GG"},
	{44, "7924", "IM"},
	{44, "7937", "JE"},
	{47, "79", "SJ"},
	{61, "89162", "CC"},
	{61, "89164", "CX"},
	{212, "5288", "EH"},
	{212, "5289", "EH"},
	{262, "269", "YT"},
	{262, "639", "YT"},
	{290, "8", "TA"},
	{358, "18", "AX"},
	{599, "3", "BQ"},
	{599, "4", "BQ"},
	{599, "7", "BQ"},
};
const size_t phone_subregion_table_len =
	sizeof(phone_subregion_table) / sizeof(phone_subregion_table[0]);

/* ASCII upper-casing, independent of the C locale. */
static char
phone_data_upper(char c)
{
	return (c >= 'a' && c <= 'z') ? (char) (c - ('a' - 'A')) : c;
}

/* Binary search of the calling-code table. */
const phone_cc_info *
phone_cc_lookup(unsigned cc)
{
	size_t		lo = 0;
	size_t		hi = phone_cc_table_len;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		unsigned	v = phone_cc_table[mid].cc;

		if (v == cc)
			return &phone_cc_table[mid];
		if (v < cc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Binary search of the region table by upper-cased alpha-2 code. */
const phone_region_info *
phone_region_lookup(const char *alpha2, size_t len)
{
	char		key[2];
	size_t		lo = 0;
	size_t		hi = phone_region_table_len;

	if (alpha2 == NULL || len != 2)
		return NULL;
	key[0] = phone_data_upper(alpha2[0]);
	key[1] = phone_data_upper(alpha2[1]);
	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		const char *v = phone_region_table[mid].alpha2;
		int			c = (unsigned char) v[0] - (unsigned char) key[0];

		if (c == 0)
			c = (unsigned char) v[1] - (unsigned char) key[1];

		if (c == 0)
			return &phone_region_table[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Longest-prefix search of the subregion rules, else the main region. */
const char *
phone_subregion_lookup(unsigned cc, const char *nsn, size_t len)
{
	const phone_cc_info *info = phone_cc_lookup(cc);
	const char *best = NULL;
	size_t		best_len = 0;
	size_t		i;

	if (info == NULL)
		return NULL;
	for (i = 0; i < phone_subregion_table_len; i++)
	{
		const phone_subregion *r = &phone_subregion_table[i];
		size_t		k = 0;

		if (r->cc != cc)
			continue;
		while (r->prefix[k] != '\0' && k < len && nsn[k] == r->prefix[k])
			k++;
		if (r->prefix[k] == '\0' && k > best_len)
		{
			best = r->region;
			best_len = k;
		}
	}
	return best ? best : info->region;
}
