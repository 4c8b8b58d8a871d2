#!/usr/bin/env python3
"""Regenerates given.txt, family.txt and ambiguous.txt.

Sources: Faker's person-name lists (MIT; the en_* lists derive from US Census name
frequencies, public domain) for the locales below, ASCII-only; `ambiguous.txt` lists names
that are also ordinary lower-case English words (Debian's wamerican word list), which the
scrubber only accepts with context. Locales pl_PL and nl_NL are deliberately left out: the
development corpus draws names from them to exercise the context rules.
"""
from faker import Faker

LOCALES = ["en_US", "en_GB", "es_MX", "es_ES", "de_DE", "it_IT", "fr_FR", "en_IN", "pt_BR",
           "ga_IE", "tl_PH"]
given, family = set(), set()
for loc in LOCALES:
    p = Faker(loc).provider("faker.providers.person")
    for attr in ["first_names", "first_names_male", "first_names_female"]:
        given |= {x.lower() for x in (getattr(p, attr, None) or []) if x.isascii() and x.isalpha()}
    for x in getattr(p, "last_names", None) or []:
        for part in x.replace("-", " ").split():
            if part.isascii() and part.isalpha() and len(part) > 1:
                family.add(part.lower())
words = set()
for w in open("/usr/share/dict/american-english", encoding="utf-8"):
    w = w.strip()
    if w and w.islower() and w.isalpha():
        words.add(w)
given = {g for g in given if len(g) > 1}
ambiguous = {n for n in given | family if n in words or len(n) <= 2}
open("given.txt", "w").write("\n".join(sorted(given)) + "\n")
open("family.txt", "w").write("\n".join(sorted(family)) + "\n")
open("ambiguous.txt", "w").write("\n".join(sorted(ambiguous)) + "\n")
