//! The scrubber's patterns. All are compiled into one multi-pattern automaton
//! (`regex_automata::meta::Regex::new_many`), so one left-to-right pass over the text finds
//! every candidate; at a given start the pattern listed first wins. Word boundaries are ASCII
//! (`(?-u:\b)`) so the lazy DFA never has to give up on non-ASCII text.

use crate::category::Category;

/// How a pattern's match becomes a detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Post {
    /// The whole match, as is.
    Whole,
    /// The capture group `v` (a cue such as "MRN:" precedes the value).
    Cue,
    /// A numeric date `a/b/c`: month/day must be plausible.
    NumericDate,
    /// A bare month/day such as `3/14`: plausible and preceded by a date cue word.
    MonthDay,
    /// A written date or month name: must start with a capital letter.
    Capitalised,
    /// A month name that is also a word or a name ("May", "Jan"): a date after a preposition
    /// or a time word ("in May", "since Aug", "late May").
    MonthAlone,
    /// A bare year: not followed by a unit.
    Year,
    /// An IPv4 address: octets at most 255.
    Ipv4,
    /// A phone number: a fax if "fax" comes shortly before.
    Phone,
    /// A code mixing letters and digits: needs enough digits.
    Code,
    /// A 17-character VIN: letters and digits.
    Vin,
    /// A URL: trailing punctuation trimmed.
    Url,
    /// A facility name: leading function words dropped.
    Facility,
    /// A place after a cue ("admitted to Silver Ridge"): not a department or ward.
    Place,
    /// "City, ST": not a credential such as ", MD" unless a ZIP follows.
    CityState,
}

/// One pattern.
pub(crate) struct Pattern {
    pub(crate) category: Category,
    pub(crate) post: Post,
    pub(crate) regex: String,
}

const B: &str = r"(?-u:\b)";

const MONTHS: &str = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec|JANUARY|FEBRUARY|MARCH|APRIL|MAY|JUNE|JULY|AUGUST|SEPTEMBER|OCTOBER|NOVEMBER|DECEMBER|JAN|FEB|MAR|APR|JUN|JUL|AUG|SEPT|SEP|OCT|NOV|DEC)";

/// US states and territories, two-letter codes.
pub(crate) const STATE_CODES: &str = "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR";

/// US state names.
pub(crate) const STATE_NAMES: &str = "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico";

/// Larger US cities and New England towns (a dictionary; other places are found through
/// address shapes and context such as "lives in").
pub(crate) const CITIES: &str = r"New York|Los Angeles|Chicago|Houston|Phoenix|Philadelphia|San Antonio|San Diego|Dallas|San Jose|Austin|Jacksonville|Fort Worth|Columbus|Charlotte|San Francisco|Indianapolis|Seattle|Denver|Nashville|Oklahoma City|El Paso|Boston|Portland|Las Vegas|Detroit|Memphis|Louisville|Baltimore|Milwaukee|Albuquerque|Tucson|Fresno|Mesa|Sacramento|Atlanta|Kansas City|Colorado Springs|Omaha|Raleigh|Miami|Long Beach|Virginia Beach|Oakland|Minneapolis|Tulsa|Tampa|Arlington|New Orleans|Wichita|Bakersfield|Cleveland|Aurora|Anaheim|Honolulu|Santa Ana|Riverside|Corpus Christi|Lexington|Henderson|Stockton|Saint Paul|St\. Paul|Cincinnati|St\. Louis|Saint Louis|Pittsburgh|Greensboro|Lincoln|Anchorage|Plano|Orlando|Irvine|Newark|Durham|Chula Vista|Toledo|Fort Wayne|St\. Petersburg|Laredo|Jersey City|Chandler|Madison|Lubbock|Scottsdale|Reno|Buffalo|Gilbert|Glendale|North Las Vegas|Winston-Salem|Chesapeake|Norfolk|Fremont|Garland|Irving|Hialeah|Richmond|Boise|Spokane|Baton Rouge|Tacoma|San Bernardino|Modesto|Fontana|Des Moines|Moreno Valley|Santa Clarita|Fayetteville|Birmingham|Oxnard|Rochester|Port St\. Lucie|Grand Rapids|Huntsville|Salt Lake City|Frisco|Yonkers|Amarillo|Glendale|Huntington Beach|McKinney|Montgomery|Augusta|Akron|Little Rock|Tempe|Columbus|Overland Park|Grand Prairie|Tallahassee|Cape Coral|Mobile|Knoxville|Shreveport|Worcester|Ontario|Vancouver|Sioux Falls|Chattanooga|Brownsville|Fort Lauderdale|Providence|Newport News|Rancho Cucamonga|Santa Rosa|Peoria|Oceanside|Elk Grove|Salem|Pembroke Pines|Eugene|Garden Grove|Cary|Fort Collins|Corona|Springfield|Jackson|Alexandria|Hayward|Clarksville|Lakewood|Lancaster|Salinas|Palmdale|Hollywood|Springfield|Macon|Sunnyvale|Pomona|Killeen|Escondido|Pasadena|Naperville|Bellevue|Joliet|Murfreesboro|Midland|Rockford|Paterson|Savannah|Bridgeport|Torrance|McAllen|Syracuse|Surprise|Denton|Roseville|Thornton|Miramar|Mesquite|Olathe|Dayton|Carrollton|Waco|Orange|Fullerton|Charleston|West Valley City|Visalia|Hampton|Gainesville|Warren|Coral Springs|Cedar Rapids|Round Rock|Sterling Heights|Kent|Columbia|Santa Clara|New Haven|Stamford|Concord|Elizabeth|Athens|Thousand Oaks|Lafayette|Simi Valley|Topeka|Norman|Fargo|Wilmington|Abilene|Odessa|Pearland|Victorville|Hartford|Vallejo|Allentown|Berkeley|Richardson|Arvada|Ann Arbor|Cambridge|Sugar Land|Lansing|Evansville|College Station|Fairfield|Clearwater|Beaumont|Independence|Provo|West Jordan|Murrieta|Palm Bay|El Monte|Carlsbad|Charleston|Temecula|Clovis|Meridian|Westminster|Costa Mesa|High Point|Manchester|Pueblo|Lakeland|Pompano Beach|West Palm Beach|Antioch|Everett|Downey|Lowell|Centennial|Elgin|Broken Arrow|Miami Gardens|Billings|Jurupa Valley|Sandy Springs|Gresham|Lewisville|Hillsboro|Ventura|Greeley|Inglewood|Waterbury|League City|Santa Maria|Tyler|Davie|Lakewood|Daly City|Boulder|Allen|West Covina|Sparks|Wichita Falls|Green Bay|San Mateo|Norwalk|Rialto|Las Cruces|Chico|El Cajon|Burbank|South Bend|Renton|Vista|Davenport|Edinburg|Tuscaloosa|Carmel|Spokane Valley|San Angelo|Vacaville|Clinton|Bend|Woodbridge|Brockton|Quincy|Lynn|New Bedford|Fall River|Newton|Somerville|Framingham|Haverhill|Waltham|Malden|Brookline|Plymouth|Medford|Taunton|Chicopee|Weymouth|Revere|Peabody|Methuen|Barnstable|Pittsfield|Attleboro|Arlington|Everett|Salem|Westfield|Leominster|Fitchburg|Beverly|Holyoke|Marlborough|Woburn|Chelsea|Braintree|Natick|Dorchester|Roxbury|Jamaica Plain|Brighton|Allston|Charlestown|Mattapan|Hyde Park|Nashua|Burlington|Albany|Duluth|Akron";

/// USPS street suffixes (full and common short forms).
const STREET_SUFFIX: &str = "Burg|Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Alley|Branch|Bridge|Brook|Brooks|Bypass|Canyon|Cape|Causeway|Center|Cliff|Cliffs|Club|Common|Corner|Corners|Course|Courts|Cove|Coves|Creek|Crescent|Crest|Crossing|Crossroad|Curve|Dale|Dam|Divide|Drives|Estate|Estates|Expressway|Expy|Extension|Ext|Falls|Ferry|Field|Fields|Flat|Flats|Ford|Fords|Forest|Forge|Forges|Fork|Forks|Fort|Freeway|Fwy|Garden|Gardens|Gateway|Glen|Glens|Green|Greens|Grove|Groves|Harbor|Harbors|Haven|Heights|Hts|Hill|Hills|Hollow|Inlet|Island|Islands|Isle|Junction|Junctions|Key|Keys|Knoll|Knolls|Lake|Lakes|Landing|Light|Lights|Loaf|Lock|Locks|Lodge|Loop|Mall|Manor|Manors|Meadow|Meadows|Mews|Mill|Mills|Mission|Motorway|Mount|Mountain|Mountains|Neck|Orchard|Oval|Overpass|Park|Parks|Parkways|Pass|Passage|Path|Pike|Pine|Pines|Plain|Plains|Plaza|Point|Points|Port|Ports|Prairie|Radial|Ramp|Ranch|Rapid|Rapids|Rest|Ridge|Ridges|River|Roads|Route|Row|Rue|Run|Shoal|Shoals|Shore|Shores|Skyway|Spring|Springs|Spur|Spurs|Squares|Station|Stravenue|Stream|Streets|Summit|Throughway|Trace|Track|Trafficway|Tunnel|Turnpike|Underpass|Union|Unions|Valley|Valleys|Via|Viaduct|View|Views|Village|Villages|Ville|Vista|Walk|Walks|Wall|Ways|Well|Wells";

fn p(category: Category, post: Post, regex: String) -> Pattern {
    Pattern {
        category,
        post,
        regex,
    }
}

/// A cue (case-insensitive), an optional "number/no/#/id" tail, a separator, then the
/// value in group `v`.
fn cue(cues: &str, value: &str) -> String {
    format!(
        r"{B}(?i:{cues})(?i:\s+(?:number|num|no\.?|id|#|code))?\s*(?:[:#=]|(?i:is|was|of))?\s*(?:#\s*)?(?P<v>{value})"
    )
}

/// An identifier value: letters, digits and inner hyphens, with at least one digit.
const ID_VALUE: &str = r"(?:[A-Za-z0-9]+[-./])*[A-Za-z0-9]*\d[A-Za-z0-9]*(?:[-./][A-Za-z0-9]+)*";

/// The patterns, highest priority first.
pub(crate) fn patterns() -> Vec<Pattern> {
    use Category as C;
    let year = r"(?:19\d\d|20\d\d)";
    let day = r"(?:[0-3]?\d)(?:st|nd|rd|th)?";
    let suffix = STREET_SUFFIX;
    vec![
        // Web and mail first: they contain digits and dots the others would take apart.
        p(
            C::Email,
            Post::Whole,
            r"[A-Za-z0-9._%+\-\x80-\xFF]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}".into(),
        ),
        p(
            C::Url,
            Post::Url,
            r"(?i:https?://|ftp://|www\.)[^\s<>\x22'()\[\]]+".to_owned(),
        ),
        p(
            C::Url,
            Post::Url,
            format!(
                r"{B}[A-Za-z0-9][A-Za-z0-9\-]*(?:\.[A-Za-z0-9\-]+)*\.(?:com|org|net|edu|gov|io|us|info|health|example)(?:/[^\s<>\x22'()\[\]]*)?{B}"
            ),
        ),
        p(
            C::Ip,
            Post::Ipv4,
            format!(r"{B}\d{{1,3}}\.\d{{1,3}}\.\d{{1,3}}\.\d{{1,3}}{B}"),
        ),
        p(
            C::Ip,
            Post::Whole,
            format!(r"{B}(?:[0-9A-Fa-f]{{1,4}}:){{7}}[0-9A-Fa-f]{{1,4}}{B}"),
        ),
        // Context cues: the value after them.
        p(
            C::Ssn,
            Post::Cue,
            cue(
                r"ssn|ss#|soc\.? sec\.?|social security(?:\s+(?:number|no\.?|#))?",
                r"\d{3}[- ]?\d{2}[- ]?\d{4}",
            ),
        ),
        p(
            C::MedicalRecord,
            Post::Cue,
            cue(
                r"mrn|mr#|mr\s+no\.?|medical\s+record(?:\s+(?:number|no\.?|#))?|med\s+rec(?:\s+(?:no\.?|#))?|chart(?:\s+(?:number|no\.?|#))|unit\s+(?:number|no\.?|#)|hospital\s+(?:number|no\.?|#)|patient\s+id|pt\s+id|record\s+(?:number|no\.?|#)|mrn#",
                ID_VALUE,
            ),
        ),
        p(
            C::HealthPlan,
            Post::Cue,
            cue(
                r"member(?:\s+(?:id|number|no\.?|#))|subscriber(?:\s+(?:id|number|no\.?|#))?|policy(?:\s+(?:id|number|no\.?|#))?|group(?:\s+(?:id|number|no\.?|#))|insurance(?:\s+(?:id|number|no\.?|#))?|plan(?:\s+(?:id|number|no\.?|#))|health\s+plan(?:\s+(?:id|number|no\.?|#))?|beneficiary(?:\s+(?:id|number|no\.?|#))?|medicaid(?:\s+(?:id|number|no\.?|#))?|medicare(?:\s+(?:id|number|no\.?|#|mbi))?|mbi|hicn|bcbs(?:\s+(?:id|#))?",
                ID_VALUE,
            ),
        ),
        p(
            C::Account,
            Post::Cue,
            cue(
                r"account(?:\s+(?:number|no\.?|#))?|acct\.?(?:\s+(?:number|no\.?|#))?|acc#|billing(?:\s+(?:id|number|no\.?|#))|invoice(?:\s+(?:number|no\.?|#))?|encounter(?:\s+(?:id|number|no\.?|#))|visit(?:\s+(?:id|number|no\.?|#))|fin|csn|har",
                ID_VALUE,
            ),
        ),
        p(
            C::Vehicle,
            Post::Cue,
            cue(
                r"vin|vehicle(?:\s+(?:id|identification\s+number|number|#))?|(?:license\s+|licence\s+)?plate(?:\s+(?:number|no\.?|#))?|tag(?:\s+(?:number|no\.?|#))",
                r"[A-Za-z0-9]*\d[A-Za-z0-9]*(?:[- ][A-Za-z0-9]+)?",
            ),
        ),
        p(
            C::License,
            Post::Cue,
            cue(
                r"(?:driver'?s\s+)?licen[cs]e(?:\s+(?:number|no\.?|#))?|lic\.?(?:\s+(?:no\.?|#))|dea(?:\s+(?:number|no\.?|#))?|npi(?:\s+(?:number|no\.?|#))?|certificate(?:\s+(?:number|no\.?|#))?|cert\.?(?:\s+(?:number|no\.?|#))?|registration(?:\s+(?:number|no\.?|#))|passport(?:\s+(?:number|no\.?|#))?|upin",
                ID_VALUE,
            ),
        ),
        p(
            C::Device,
            Post::Cue,
            cue(
                r"serial(?:\s+(?:number|no\.?|#))?|s/n|sn|device(?:\s+(?:id|number|no\.?|#))?|model(?:\s+(?:number|no\.?|#))|lot(?:\s+(?:number|no\.?|#))?|udi|imei|implant(?:\s+(?:id|number|#))",
                ID_VALUE,
            ),
        ),
        p(
            C::Phone,
            Post::Cue,
            cue(
                r"pager|beeper|pgr|page\s+#|ext\.?|extension|call|phone|tel|telephone|cell|mobile|contact|reached\s+at|reach\s+(?:him|her|them)\s+at",
                r"\d{3}[-.]\d{4}|\d{3,6}",
            ),
        ),
        p(
            C::OtherId,
            Post::Cue,
            cue(
                r"accession(?:\s+(?:number|no\.?|#))?|specimen(?:\s+(?:id|number|no\.?|#))?|order(?:\s+(?:number|no\.?|#))|case(?:\s+(?:number|no\.?|#))|study\s+id|requisition(?:\s+(?:number|no\.?|#))?|badge(?:\s+(?:number|no\.?|#))?|employee(?:\s+(?:id|number|no\.?|#))|claim(?:\s+(?:number|no\.?|#))?|reference(?:\s+(?:number|no\.?|#))|ref(?:\s+(?:no\.?|#))|ticket(?:\s+(?:number|no\.?|#))?|id(?:\s+(?:number|no\.?|#))?|identifier",
                ID_VALUE,
            ),
        ),
        p(
            C::Age,
            Post::Cue,
            format!(
                r"{B}(?i:aged?|at\s+age|age\s+of|ages)\s*(?::|=|(?i:is|was)\s)?\s*(?P<v>(?:9\d|1[0-1]\d)){B}"
            ),
        ),
        // Ages over 89 in words: "ninety-three-year-old", "one hundred years of age".
        p(
            C::Age,
            Post::Cue,
            format!(
                r"{B}(?P<v>(?i:ninety(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|one[- ]hundred(?:[- ](?:and[- ])?(?:one|two|three|four|five|six|seven|eight|nine|ten))?))[- ](?i:years?[- ]old|years?\s+of\s+age|yo{B}|y/o)"
            ),
        ),
        p(
            C::Facility,
            Post::Place,
            format!(
                r"{B}(?i:admitted|readmitted|transferred|presented|seen|followed|evaluated|treated|hospitali[sz]ed|discharged|referred|brought|taken|delivered|rehab|stay|stayed|hospitali[sz]ation)\s+(?i:to|at|from|in)\s+(?:the\s+)?(?P<v>[A-Z][A-Za-z'\-]+(?:\s+[A-Z][A-Za-z'\-]+){{0,3}})"
            ),
        ),
        p(
            C::City,
            Post::Cue,
            format!(
                r"{B}(?i:lives|living|lived|resides|residing|resident|moved|relocated|born|raised|grew\s+up|visiting|transferred|transfer|returned|returning|travell?ed|home|native)\s+(?:in|to|at|from|of)\s+(?P<v>[A-Z][a-z]+(?:[ \-][A-Z][a-z]+)?)"
            ),
        ),
        p(
            C::Name,
            Post::Cue,
            format!(r"(?m:^)[ \t]*[A-Z]{{2,4}}[:/](?P<v>[a-z]{{2,}}(?:/[a-z]{{2,}})*){B}"),
        ),
        p(
            C::Name,
            Post::Cue,
            format!(r"(?:M\.D\.|{B}MD{B}|{B}RN{B}|{B}NP{B})[ \t]+(?P<v>[A-Z]{{2,3}}\d{{1,3}}){B}"),
        ),
        p(
            C::Date,
            Post::Whole,
            format!(
                r"{B}(?i:the\s+)?(?i:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|twenty-\w+|thirtieth|thirty-first)\s+of\s+(?:January|February|March|April|May|June|July|August|September|October|November|December){B}(?:,?\s+{year}{B})?"
            ),
        ),
        // Shapes.
        p(
            C::Ssn,
            Post::Whole,
            format!(r"{B}\d{{3}}-\d{{2}}-\d{{4}}{B}|{B}\d{{3}} \d{{2}} \d{{4}}{B}"),
        ),
        p(
            C::Date,
            Post::NumericDate,
            format!(
                r"{B}\d{{1,2}}[/\-]\d{{1,2}}[/\-](?:\d{{4}}|\d{{2}}){B}|{B}\d{{1,2}}\.\d{{1,2}}\.{year}{B}"
            ),
        ),
        p(
            C::Date,
            Post::Whole,
            format!(r"{B}{year}[/\-.](?:0?[1-9]|1[0-2])[/\-.](?:0?[1-9]|[12]\d|3[01]){B}"),
        ),
        p(
            C::Phone,
            Post::Phone,
            format!(
                r"(?:\+?1[ .\-]?)?(?:\(\d{{3}}\)\s?|{B}\d{{3}}[ .\-])\d{{3}}[ .\-]\d{{4}}{B}(?:\s?(?i:x|ext\.?|extension)\s?\d{{1,5}}{B})?"
            ),
        ),
        p(
            C::Date,
            Post::Whole,
            format!(
                r"{B}{day}-(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)-(?:{year}|\d\d){B}"
            ),
        ),
        p(
            C::Date,
            Post::Capitalised,
            format!(
                r"{B}{MONTHS}\.?\s+{day}{B}(?:,?\s+{year}{B})?|{B}{MONTHS}\.?,?\s+(?:of\s+)?'?(?:{year}|\d\d){B}"
            ),
        ),
        p(
            C::Date,
            Post::Whole,
            format!(r"{B}{day}\s+(?:of\s+)?{MONTHS}{B}\.?(?:,?\s+{year}{B})?"),
        ),
        p(
            C::Date,
            Post::Capitalised,
            format!(
                r"{B}(?:January|February|March|April|June|July|August|September|October|November|December|Sept|JANUARY|FEBRUARY|APRIL|JUNE|JULY|AUGUST|SEPTEMBER|OCTOBER|NOVEMBER|DECEMBER){B}"
            ),
        ),
        // Safe Harbor removes every element of a date but the year, a month alone included;
        // a capital letter and the word before tell the month from the verb ("may").
        p(
            C::Date,
            Post::MonthAlone,
            format!(
                r"{B}(?:May|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec|MAY|JAN|FEB|MAR|APR|JUN|JUL|AUG|SEPT|SEP|OCT|NOV|DEC){B}"
            ),
        ),
        p(
            C::Date,
            Post::Whole,
            format!(
                r"{B}(?:Christmas(?:\s+Eve)?|Thanksgiving|Easter|Halloween|New\s+Year'?s(?:\s+(?:Day|Eve))?|Memorial\s+Day|Labor\s+Day|Independence\s+Day|Veterans\s+Day|Valentine'?s\s+Day|Mother'?s\s+Day|Father'?s\s+Day|Yom\s+Kippur|Rosh\s+Hashanah|Ramadan|Passover|Hanukkah){B}"
            ),
        ),
        p(
            C::Age,
            Post::Whole,
            format!(
                r"{B}(?:9\d|1[0-1]\d)(?:\s*|-)(?i:years?|yrs?|y)(?:\s*|-)(?i:old|o{B})|{B}(?:9\d|1[0-1]\d)\s*(?i:yo{B}|y/o|y\.o\.|yr{B}|years\s+of\s+age|-?year-?old|-?yr-?old|\+\s*years)"
            ),
        ),
        p(
            C::Date,
            Post::MonthDay,
            format!(r"{B}(?:0?[1-9]|1[0-2])/(?:\d\d|\d|(?:19|20)\d\d){B}"),
        ),
        p(
            C::Street,
            Post::Whole,
            format!(
                r"{B}\d{{1,6}}[A-Za-z]?(?:\s+[NSEW]\.?)?(?:\s+(?:[A-Z][A-Za-z'\-]+|\d+(?:st|nd|rd|th))){{1,4}}\s+(?:{suffix})s?{B}\.?(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Room|Rm|Fl|Floor|Bldg)\.?\s*#?\s*[A-Za-z0-9\-]+|\s+#\s?[A-Za-z0-9\-]+)?"
            ),
        ),
        p(
            C::Street,
            Post::Whole,
            format!(r"{B}(?i:p\.?\s?o\.?\s+box)\s+\d+{B}"),
        ),
        p(
            C::Street,
            Post::Whole,
            format!(
                r"{B}(?:[A-Z][a-z]+\s+){{1,2}}(?:Street|Avenue|Road|Boulevard|Lane|Drive|Parkway|Turnpike|Highway)(?-u:\b)|{B}(?:Route|Interstate|Highway|I-|Rt\.?|US)\s?\d{{1,3}}{B}"
            ),
        ),
        p(
            C::City,
            Post::CityState,
            format!(
                r"{B}[A-Z][a-z]+(?:[ \-][A-Z][a-z]+){{0,2}},\s*(?:{STATE_CODES}){B}(?:\s+\d{{5}}(?:-\d{{4}})?{B})?"
            ),
        ),
        p(
            C::City,
            Post::Whole,
            format!(
                r"{B}[A-Z][a-z]+(?:[ \-][A-Z][a-z]+){{0,2}},\s*(?:{STATE_NAMES}){B}(?:\s+\d{{5}}(?:-\d{{4}})?{B})?"
            ),
        ),
        p(
            C::Zip,
            Post::Whole,
            format!(r"{B}(?:{STATE_CODES}|{STATE_NAMES})\s+\d{{5}}(?:-\d{{4}})?{B}"),
        ),
        p(
            C::Zip,
            Post::Cue,
            cue(r"zip(?:\s*code)?|postal\s+code", r"\d{5}(?:-\d{4})?"),
        ),
        p(
            C::Facility,
            Post::Facility,
            format!(
                r"{B}(?:(?:[A-Z][A-Za-z'.\-]+|of|the|and|&)\s+){{1,5}}(?:Hospital|Medical\s+Center|Med\s+Ctr|Health\s+Center|Healthcare|Health\s+System|Clinic|Infirmary|Nursing\s+Home|Rehabilitation\s+(?:Center|Hospital)|Rehab|Hospice|Care\s+Center|Surgery\s+Center|Cancer\s+Center|Medical\s+Group|Nursing\s+Facility|Pavilion|HOSPITAL|MEDICAL\s+CENTER|CLINIC|HEALTH\s+CENTER|EMERGENCY\s+(?:DEPT|DEPARTMENT)|Emergency\s+(?:Dept|Department)){B}"
            ),
        ),
        p(C::State, Post::Whole, format!(r"{B}(?:{STATE_NAMES}){B}")),
        p(C::City, Post::Whole, format!(r"{B}(?:{CITIES}){B}")),
        // Identifier shapes without a cue.
        p(
            C::HealthPlan,
            Post::Whole,
            format!(
                r"{B}[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9]\d[AC-HJKMNP-RT-Y]{{2}}\d{{2}}{B}"
            ),
        ),
        p(
            C::Vehicle,
            Post::Vin,
            format!(r"{B}[A-HJ-NPR-Z0-9]{{17}}{B}"),
        ),
        p(
            C::OtherId,
            Post::Code,
            format!(
                r"{B}[A-Z0-9]+(?:-[A-Z0-9]+){{1,4}}{B}|{B}[A-Z]{{1,5}}\d{{4,}}[A-Z0-9]*{B}|{B}\d{{1,5}}[A-Z]{{1,4}}\d{{3,}}[A-Z0-9]*{B}"
            ),
        ),
        p(
            C::OtherId,
            Post::Whole,
            format!(
                r"{B}\d{{7,}}{B}|{B}\d{{2,}}(?:-\d+){{2,}}{B}|{B}[A-Z]{{1,3}}\d{{2,}}/\d{{3,}}{B}"
            ),
        ),
        p(
            C::Date,
            Post::Year,
            format!(r"{B}(?:19\d\d|20[0-4]\d){B}|'\d\d{B}"),
        ),
    ]
}
