"""Realistic fake identifiers for synthetic DICOM headers, so that de-identification is exercised.

None of these reach clinical.csv (which uses pseudonymous ids); they exist only inside the DICOM
files, where a real export would carry them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GIVEN = ("Mei", "Li", "Hua", "Xiu", "Ying", "Anna", "Maria", "Sofia", "Elena", "Grace", "Amara",
         "Fatima", "Priya", "Yuki", "Olga", "Rosa", "Ines", "Laila", "Nadia", "Chloe")
FAMILY = ("Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Garcia",
          "Silva", "Novak", "Kowalski", "Okafor", "Haddad", "Sato", "Ivanova", "Rossi", "Martin")
INSTITUTIONS = ("Riverside General Hospital", "St. Catherine Medical Centre",
                "Eastern University Hospital")


@dataclass(frozen=True)
class FakeIdentity:
    patient_name: str
    patient_id: str
    birth_date: str       # YYYYMMDD
    accession_number: str
    institution: str
    referring_physician: str
    study_date: str       # YYYYMMDD


def fake_identity(rng: np.random.Generator, age_years: float) -> FakeIdentity:
    """An identity consistent with the patient's age at a study date in 2018-2023."""
    study_year = int(rng.integers(2018, 2024))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    birth_year = study_year - int(age_years) - (1 if rng.random() < 0.5 else 0)
    family, given = FAMILY[rng.integers(len(FAMILY))], GIVEN[rng.integers(len(GIVEN))]
    doctor = f"{FAMILY[rng.integers(len(FAMILY))]}^{GIVEN[rng.integers(len(GIVEN))]}^^Dr"
    return FakeIdentity(
        patient_name=f"{family}^{given}",
        patient_id=f"MRN{rng.integers(10**7, 10**8)}",
        birth_date=f"{birth_year:04d}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}",
        accession_number=f"ACC{rng.integers(10**8, 10**9)}",
        institution=INSTITUTIONS[rng.integers(len(INSTITUTIONS))],
        referring_physician=doctor,
        study_date=f"{study_year:04d}{month:02d}{day:02d}",
    )
