#!/usr/bin/env python3
"""Generates the synthetic labelled development corpus (dev-corpus.jsonl).

Every value is fake: names come from Faker locales, numbers are random. Run with Faker
installed (`pip install faker`): python3 gen_corpus.py > dev-corpus.jsonl
Each line: {"id", "text", "spans": [{"begin", "end", "label"}]} with character offsets.
"""
import json
import random
import sys

from faker import Faker

SEED = 20261123
rng = random.Random(SEED)
fakers = [Faker(l) for l in ["en_US", "en_US", "en_US", "en_GB", "es_MX", "de_DE", "it_IT", "fr_FR", "pl_PL", "en_IN", "pt_BR", "nl_NL"]]
for i, f in enumerate(fakers):
    f.seed_instance(SEED + i)
us = Faker("en_US")
us.seed_instance(SEED)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
MON3 = [m[:3] for m in MONTHS]
STATES = [("MA", "Massachusetts"), ("CA", "California"), ("TX", "Texas"), ("NY", "New York"),
          ("IL", "Illinois"), ("OH", "Ohio"), ("GA", "Georgia"), ("WA", "Washington"),
          ("FL", "Florida"), ("NC", "North Carolina"), ("MN", "Minnesota"), ("AZ", "Arizona")]
CITIES = ["Boston", "Worcester", "Springfield", "Fresno", "Austin", "Dallas", "Albany", "Chicago",
          "Columbus", "Atlanta", "Seattle", "Tampa", "Raleigh", "Duluth", "Tucson", "Lowell",
          "Brockton", "Quincy", "Cambridge", "Somerville", "Newton", "Framingham", "Salem",
          "Plymouth", "Dayton", "Akron", "Macon", "Spokane", "Orlando", "Durham", "Mesa"]
HOSPITALS = ["Saint Anne's Hospital", "Mercy Medical Center", "Riverside General Hospital",
             "Lakeview Community Hospital", "North Shore Medical Center", "Valley Regional Hospital",
             "Good Samaritan Hospital", "Brookside Rehabilitation Center", "Hillcrest Clinic"]
CREDS = ["MD", "M.D.", "RN", "NP", "PA-C", "DO", "MD, PhD"]


class Doc:
    def __init__(self):
        self.parts = []
        self.spans = []
        self.n = 0

    def t(self, s):
        self.parts.append(s)
        self.n += len(s)

    def p(self, s, label):
        self.spans.append({"begin": self.n, "end": self.n + len(s), "label": label})
        self.t(s)

    def done(self, i, kind):
        return {"id": f"dev-{i:04d}-{kind}", "text": "".join(self.parts), "spans": self.spans}


def fk():
    return rng.choice(fakers)


def first():
    f = fk()
    return f.first_name()


def last():
    return fk().last_name()


def person(style=None):
    style = style or rng.choice(["fl", "fl", "fml", "l", "lf", "FL", "fi"])
    fn, ln = first(), last()
    if style == "fl":
        return f"{fn} {ln}"
    if style == "fml":
        return f"{fn} {rng.choice('ABCDEFGHJKLMNPRSTW')}. {ln}"
    if style == "l":
        return ln
    if style == "lf":
        return f"{ln}, {fn}"
    if style == "FL":
        return f"{fn} {ln}".upper()
    return f"{fn[0]}. {ln}"


def date():
    y = rng.randint(1930, 2025)
    m = rng.randint(1, 12)
    d = rng.randint(1, 28)
    style = rng.randint(0, 11)
    if style == 0:
        return f"{m:02d}/{d:02d}/{y}"
    if style == 1:
        return f"{m}/{d}/{y % 100:02d}"
    if style == 2:
        return f"{y}-{m:02d}-{d:02d}"
    if style == 3:
        return f"{MONTHS[m-1]} {d}, {y}"
    if style == 4:
        return f"{d} {MONTHS[m-1]} {y}"
    if style == 5:
        return f"{MON3[m-1]} {d} {y}"
    if style == 6:
        return f"{MON3[m-1]}. {d}, {y}"
    if style == 7:
        return f"{m}/{d}"
    if style == 8:
        return f"{MONTHS[m-1]} {d}{rng.choice(['st','nd','rd','th'])}"
    if style == 9:
        return f"{d}-{MON3[m-1]}-{y}"
    if style == 10:
        return f"{m}-{d}-{y}"
    return f"{MONTHS[m-1]} {y}"


def phone():
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    style = rng.randint(0, 4)
    if style == 0:
        return f"({a}) {b}-{c:04d}"
    if style == 1:
        return f"{a}-{b}-{c:04d}"
    if style == 2:
        return f"{a}.{b}.{c:04d}"
    if style == 3:
        return f"+1 {a} {b} {c:04d}"
    return f"{a}-{b}-{c:04d} x{rng.randint(10, 9999)}"


def ssn():
    a, b, c = rng.randint(100, 899), rng.randint(1, 99), rng.randint(1, 9999)
    return rng.choice([f"{a}-{b:02d}-{c:04d}", f"{a} {b:02d} {c:04d}", f"{a}{b:02d}{c:04d}"])


def digits(n):
    return "".join(rng.choice("0123456789") for _ in range(n))


def alnum(n):
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ0123456789") for _ in range(n))


def mrn():
    return rng.choice([digits(7), digits(8), "MR" + digits(6), digits(3) + "-" + digits(2) + "-" + digits(2), digits(10)])


def street():
    f = us
    s = f.street_address()
    return s


def vin():
    v = alnum(17)
    return v[:3] + digits(1) + v[4:]


def email(name):
    user = name.lower().replace(" ", ".").replace(",", "").replace("'", "")
    user = "".join(ch for ch in user if ch.isalnum() or ch == ".")[:20] or "pt"
    return f"{user}{rng.randint(1, 99)}@{rng.choice(['mail.example', 'example.com', 'inbox.example.org', 'corvid.example'])}"


def ip():
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def city_state_zip(d, with_zip=True):
    ab, full = rng.choice(STATES)
    d.p(rng.choice(CITIES) if rng.random() < 0.7 else us.city(), "CITY")
    d.t(", ")
    d.p(ab if rng.random() < 0.8 else full, "STATE")
    if with_zip:
        d.t(" ")
        d.p(f"{rng.randint(1000, 99999):05d}" if rng.random() < 0.8 else f"{rng.randint(1000, 99999):05d}-{digits(4)}", "ZIP")


def doctor(d, lead="Dr. "):
    d.t(lead)
    d.p(person(rng.choice(["fl", "l", "fml", "l"])), "DOCTOR")


def signature(d):
    d.t(rng.choice(["\n\n", "\n\n___________________\n"]))
    d.p(person(rng.choice(["fl", "fml", "FL"])), "DOCTOR")
    d.t(", " + rng.choice(CREDS) + "\n")
    if rng.random() < 0.6:
        d.t(rng.choice(["Dictated: ", "D: ", "Electronically signed "]))
        d.p(date(), "DATE")
        d.t("\n")


def age(d):
    if rng.random() < 0.35:
        a = rng.randint(90, 104)
        d.p(str(a), "AGE")
        d.t(rng.choice(["-year-old", " year old", " y/o", " yo", "-yr-old"]))
    else:
        d.t(str(rng.randint(18, 88)) + rng.choice(["-year-old", " year old", " y/o"]))


def discharge(i):
    d = Doc()
    d.t(rng.choice(["DISCHARGE SUMMARY\n", "Discharge Summary\n\n", "HOSPITAL DISCHARGE SUMMARY\n"]))
    d.t("Patient Name: ")
    d.p(person(rng.choice(["fl", "lf", "FL", "fml"])), "PATIENT")
    d.t("\nMRN: ")
    d.p(mrn(), "MRN")
    d.t(rng.choice(["\nAdmission Date: ", "\nAdmitted: ", "\nDate of Admission: "]))
    d.p(date(), "DATE")
    d.t(rng.choice(["\nDischarge Date: ", "\nDischarged: "]))
    d.p(date(), "DATE")
    if rng.random() < 0.5:
        d.t("\nDOB: ")
        d.p(date(), "DATE")
    d.t("\nAttending: ")
    d.p(person(rng.choice(["fl", "fml", "lf"])), "DOCTOR")
    d.t(", " + rng.choice(CREDS))
    d.t("\n\nHISTORY OF PRESENT ILLNESS:\nThe patient is a ")
    age(d)
    d.t(rng.choice([" woman", " man", " female", " male"]) + " with a history of " +
        rng.choice(["CHF", "COPD", "type 2 diabetes", "atrial fibrillation", "CKD stage 3", "hypertension"]) +
        " who presented to ")
    d.p(rng.choice(HOSPITALS), "HOSPITAL")
    d.t(" on ")
    d.p(date(), "DATE")
    d.t(" with " + rng.choice(["shortness of breath", "chest pain", "fever and cough", "a fall at home", "syncope"]) + ". ")
    d.t(rng.choice(["She", "He"]) + " was transferred from ")
    d.p(rng.choice(CITIES), "CITY")
    d.t(" by ambulance. BP 142/88, HR 96, SpO2 91% on room air. WBC 12.4, Cr 1.6.\n\n")
    d.t("HOSPITAL COURSE:\nTreated with IV furosemide 40 mg twice daily. Cardiology (")
    doctor(d)
    d.t(") was consulted on ")
    d.p(date(), "DATE")
    d.t(". Echo showed EF 35%. Pacemaker interrogation, device serial number ")
    d.p(alnum(3) + digits(6), "DEVICE")
    d.t(", was unremarkable.\n\nDISCHARGE INSTRUCTIONS:\nFollow up with PCP ")
    d.p(person(rng.choice(["fl", "l"])), "DOCTOR")
    d.t(" in 1-2 weeks; call ")
    d.p(phone(), "PHONE")
    d.t(" for an appointment. Insurance: Member ID ")
    d.p(rng.choice(["W" + digits(9), alnum(3) + "-" + digits(6), digits(11)]), "HEALTHPLAN")
    d.t(".\n")
    signature(d)
    return d.done(i, "discharge")


def progress(i):
    d = Doc()
    d.t(rng.choice(["Progress Note", "CLINIC NOTE", "Internal Medicine Follow-up", "Record date: "]))
    if d.parts[-1].startswith("Record"):
        d.p(date(), "DATE")
    d.t("\n\n")
    title = rng.choice(["Mr. ", "Mrs. ", "Ms. "])
    d.t(title)
    d.p(last(), "PATIENT")
    d.t(rng.choice([" returns for follow-up of ", " is seen today for ", " comes in regarding "]))
    d.t(rng.choice(["hypertension", "diabetes", "back pain", "depression", "gout"]) + ". I last saw ")
    d.t(rng.choice(["him", "her"]) + " in ")
    d.p(rng.choice(MONTHS), "DATE")
    d.t(". ")
    if rng.random() < 0.6:
        d.t(rng.choice(["His wife ", "Her husband ", "Her daughter ", "His son ", "Her sister "]))
        d.p(first(), "PATIENT")
        d.t(rng.choice([" accompanies today.", " is the health care proxy and can be reached at "]))
        if d.parts[-1].endswith("at "):
            d.p(phone(), "PHONE")
            d.t(".")
    d.t(" A1c 7.8% on ")
    d.p(date(), "DATE")
    d.t(". Metformin 1000 mg bid continued. Lisinopril 20 mg daily.\n")
    if rng.random() < 0.5:
        d.t("Seen with ")
        d.p(person("fl"), "DOCTOR")
        d.t(", " + rng.choice(CREDS) + ". ")
    d.t("She works as a teacher at " if rng.random() < 0.3 else "Lives alone in ")
    if d.parts[-1].startswith("Lives"):
        d.p(rng.choice(CITIES), "CITY")
        d.t(". ")
    else:
        d.p(rng.choice(["Lincoln Elementary School", "Jefferson High School"]), "ORGANIZATION")
        d.t(". ")
    d.t("Plan: return in 3 months, labs before visit on ")
    d.p(date(), "DATE")
    d.t(".\n\n")
    doctor(d, rng.choice(["", "Dr. "]))
    d.t("\n")
    return d.done(i, "progress")


def registration(i):
    d = Doc()
    d.t("PATIENT REGISTRATION\nName: ")
    name = person(rng.choice(["fl", "lf", "fml"]))
    d.p(name, "PATIENT")
    d.t("\nDate of Birth: ")
    d.p(date(), "DATE")
    d.t("\nSSN: ")
    d.p(ssn(), "SSN")
    d.t("\nAddress: ")
    d.p(street(), "STREET")
    d.t(rng.choice([", ", "\n"]))
    city_state_zip(d)
    d.t(rng.choice(["\nHome phone: ", "\nPhone: ", "\nTel: "]))
    d.p(phone(), "PHONE")
    d.t(rng.choice(["\nFax: ", "\nFax number: "]))
    d.p(phone(), "FAX")
    d.t("\nEmail: ")
    d.p(email(name), "EMAIL")
    d.t("\nAccount #: ")
    d.p(digits(rng.choice([8, 9, 10])), "ACCOUNT")
    d.t("\nMedicare MBI: ")
    d.p(f"{rng.randint(1, 9)}EG4TE5MK7{digits(2)}" if rng.random() < 0.3 else digits(3) + alnum(8), "HEALTHPLAN")
    d.t("\nDriver's license: ")
    d.p(rng.choice(["S" + digits(8), digits(9), "D" + digits(7)]), "LICENSE")
    d.t("\nEmergency contact: ")
    d.p(person("fl"), "PATIENT")
    d.t(" (" + rng.choice(["spouse", "daughter", "son", "friend"]) + ") ")
    d.p(phone(), "PHONE")
    d.t("\nPortal: ")
    d.p(rng.choice(["https://mychart.example.org/p/", "http://portal.example.com/u/", "www.healthportal.example/"]) + alnum(6).lower(), "URL")
    d.t("\nLast login from IP ")
    d.p(ip(), "IPADDR")
    d.t("\n")
    return d.done(i, "registration")


def ed(i):
    d = Doc()
    d.t("EMERGENCY DEPARTMENT NOTE\n")
    d.p(date(), "DATE")
    d.t(" " + f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}" + "\n\nCC: MVC\n\nHPI: ")
    age(d)
    d.t(" restrained driver in a motor vehicle collision on ")
    d.p(rng.choice(["Route 9", "Interstate 90", "Main Street", "Elm Street"]), "STREET")
    d.t(". Vehicle VIN ")
    d.p(vin(), "VEHICLE")
    d.t(", plate ")
    d.p(alnum(3) + digits(4), "VEHICLE")
    d.t(". Brought by EMS from ")
    d.p(rng.choice(CITIES), "CITY")
    d.t(". Police officer ")
    d.p(person("fl"), "PATIENT")
    d.t(" badge #")
    d.p(digits(5), "ID")
    d.t(" at bedside.\nExam: GCS 15. Abrasions to left forearm. CT head negative.\n")
    d.t("Dispo: discharged home with ")
    d.p(first(), "PATIENT")
    d.t(rng.choice([" (mother).", " (roommate).", "."]) + " Seen by ")
    doctor(d)
    d.t(" and resident ")
    d.p(person("fl"), "DOCTOR")
    d.t(". Pager ")
    d.p(digits(5), "PHONE")
    d.t(".\n")
    return d.done(i, "ed")


def radiology(i):
    d = Doc()
    d.t("RADIOLOGY REPORT\nExam: CT chest with contrast\nAccession: ")
    d.p(rng.choice(["ACC" + digits(7), digits(9)]), "ID")
    d.t("\nPatient: ")
    d.p(person(rng.choice(["lf", "fl"])), "PATIENT")
    d.t("  MRN ")
    d.p(mrn(), "MRN")
    d.t("\nDate of exam: ")
    d.p(date(), "DATE")
    d.t("\nComparison: ")
    d.p(date(), "DATE")
    d.t(".\nFindings: 6 mm nodule in the right upper lobe, unchanged. No effusion.\n"
        "Impression: Stable. Findings discussed with ")
    doctor(d)
    d.t(" by telephone at " + f"{rng.randint(1, 12)}:{rng.randint(10, 59)}" + " pm.\nRead by: ")
    d.p(person("fml"), "DOCTOR")
    d.t(", MD\n")
    return d.done(i, "radiology")


def letter(i):
    d = Doc()
    d.p(rng.choice(HOSPITALS), "HOSPITAL")
    d.t("\n")
    d.p(street(), "STREET")
    d.t("\n")
    city_state_zip(d)
    d.t("\n\n")
    d.p(date(), "DATE")
    d.t("\n\nDear Dr. ")
    d.p(last(), "DOCTOR")
    d.t(",\n\nThank you for referring ")
    d.p(person("fl"), "PATIENT")
    d.t(" (DOB ")
    d.p(date(), "DATE")
    d.t(", MRN ")
    d.p(mrn(), "MRN")
    d.t(") for evaluation of " + rng.choice(["memory loss", "tremor", "neuropathy", "headaches"]) + ". ")
    d.t("At ")
    d.p(str(rng.randint(90, 101)), "AGE")
    d.t(" years of age, ")
    d.t(rng.choice(["she", "he"]) + " remains independent. MoCA 24/30. ")
    d.t("A copy has been faxed to ")
    d.p(phone(), "FAX")
    d.t(". Records may be requested at ")
    d.p(rng.choice(["records@", "him@", "intake@"]) + rng.choice(["mercy.example.org", "valleyhealth.example"]), "EMAIL")
    d.t(".\n\nSincerely,\n\n")
    d.p(person("fl"), "DOCTOR")
    d.t(", " + rng.choice(CREDS) + "\nNPI ")
    d.p(digits(10), "LICENSE")
    d.t("\n")
    return d.done(i, "letter")


def nursing(i):
    d = Doc()
    d.t("Nursing note " )
    d.p(date(), "DATE")
    d.t(": Pt resting comfortably. " )
    d.t(rng.choice(["Family at bedside: ", "Visitor: ", "Spoke with "]))
    d.p(person("fl"), "PATIENT")
    d.t(rng.choice([", daughter.", ", son, by phone.", " (HCP)."]) + " Insulin pump serial ")
    d.p("SN-" + alnum(4) + "-" + digits(5), "DEVICE")
    d.t(" checked. Pain 3/10. Voiding qs. I/O 1200/900. ")
    d.t("Will notify ")
    d.p(rng.choice(["Dr. ", ""]) and "", "")  if False else None
    d.t("Dr. ")
    d.p(last(), "DOCTOR")
    d.t(" if SBP > 160. ")
    d.p(first(), "DOCTOR")
    d.t(" RN\n")
    return d.done(i, "nursing")


def phonemsg(i):
    d = Doc()
    d.t("Telephone encounter ")
    d.p(date(), "DATE")
    d.t("\nCaller: ")
    name = person("fl")
    d.p(name, "PATIENT")
    d.t(" called from ")
    d.p(phone(), "PHONE")
    d.t(" asking about refill of atorvastatin 40 mg. Pharmacy fax ")
    d.p(phone(), "FAX")
    d.t(". Patient's SSN ")
    d.p(ssn(), "SSN")
    d.t(" verified; acct ")
    d.p(digits(8), "ACCOUNT")
    d.t(". Lives at ")
    d.p(street(), "STREET")
    d.t(" in ")
    d.p(rng.choice(CITIES), "CITY")
    d.t(". Plan cert #")
    d.p(alnum(2) + digits(6), "LICENSE")
    d.t(". Call back after ")
    d.p(rng.choice(["Monday"]) and date(), "DATE")
    d.t(". Routed to ")
    d.p(person("fl"), "DOCTOR")
    d.t(".\n")
    return d.done(i, "phone")


def labs(i):
    # Mostly non-PHI text with numbers that look like identifiers but are not.
    d = Doc()
    d.t("LAB RESULTS\nCollected ")
    d.p(date(), "DATE")
    d.t("\nNa 138 K 4.1 Cl 101 CO2 24 BUN 18 Cr 1.1 Glu 112\nWBC 7.2 Hgb 13.1 Plt 245\n"
        "INR 1.1, PT 12.3 sec. Troponin < 0.01. BNP 450 pg/mL. HbA1c 6.9%.\n"
        "Urine: SG 1.015, pH 6.0, protein 30 mg/dL. Vitamin D 25-OH 18 ng/mL.\n"
        "Medications: aspirin 81 mg, metoprolol 25 mg BID, vitamin B12 1000 mcg.\n"
        "Ordered by ")
    d.p(person(rng.choice(["fl", "fi"])), "DOCTOR")
    d.t(". Specimen ")
    d.p("S" + digits(8), "ID")
    d.t(".\n")
    return d.done(i, "labs")


GENS = [discharge, progress, registration, ed, radiology, letter, nursing, phonemsg, labs]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 360
    for i in range(n):
        doc = GENS[i % len(GENS)](i)
        for s in doc["spans"]:
            assert doc["text"][s["begin"]:s["end"]].strip() == doc["text"][s["begin"]:s["end"]]
        print(json.dumps(doc, ensure_ascii=False))


if __name__ == "__main__":
    main()
