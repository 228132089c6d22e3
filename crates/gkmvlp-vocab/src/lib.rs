//! The vocabularies of GK-MVLP, in one place: the 29 Chest ImaGenome anatomical regions, the findings
//! (entities) the model grounds, and the positions where each may occur. The model, the simulator, the
//! trainer and the browser all read these tables, so an index means the same thing everywhere.
//!
//! Bump [`VOCAB_VERSION`] whenever an order or a name changes: weight manifests record it, and loading
//! weights trained on another vocabulary fails instead of silently mislabelling.

pub mod mentions;
pub mod questions;

/// Version of these tables, stored in every weight manifest.
pub const VOCAB_VERSION: u32 = 1;

/// Number of anatomical regions (Chest ImaGenome).
pub const NUM_REGIONS: usize = 29;

/// The 29 Chest ImaGenome regions, in the order of region-guided report generation work on that dataset.
/// Region `i` is also region-head query `i`.
pub const REGIONS: [&str; NUM_REGIONS] = [
    "right lung",
    "right upper lung zone",
    "right mid lung zone",
    "right lower lung zone",
    "right hilar structures",
    "right apical zone",
    "right costophrenic angle",
    "right hemidiaphragm",
    "left lung",
    "left upper lung zone",
    "left mid lung zone",
    "left lower lung zone",
    "left hilar structures",
    "left apical zone",
    "left costophrenic angle",
    "left hemidiaphragm",
    "trachea",
    "spine",
    "right clavicle",
    "left clavicle",
    "aortic arch",
    "mediastinum",
    "upper mediastinum",
    "svc",
    "cardiac silhouette",
    "cavoatrial junction",
    "right atrium",
    "carina",
    "abdomen",
];

/// A region by name, as an index into [`REGIONS`]. Typed so that a misspelt name cannot compile into a
/// silent lookup failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Region {
    RightLung,
    RightUpperLungZone,
    RightMidLungZone,
    RightLowerLungZone,
    RightHilarStructures,
    RightApicalZone,
    RightCostophrenicAngle,
    RightHemidiaphragm,
    LeftLung,
    LeftUpperLungZone,
    LeftMidLungZone,
    LeftLowerLungZone,
    LeftHilarStructures,
    LeftApicalZone,
    LeftCostophrenicAngle,
    LeftHemidiaphragm,
    Trachea,
    Spine,
    RightClavicle,
    LeftClavicle,
    AorticArch,
    Mediastinum,
    UpperMediastinum,
    Svc,
    CardiacSilhouette,
    CavoatrialJunction,
    RightAtrium,
    Carina,
    Abdomen,
}

use Region::*;

impl Region {
    /// All regions in vocabulary order.
    pub const ALL: [Region; NUM_REGIONS] = [
        RightLung,
        RightUpperLungZone,
        RightMidLungZone,
        RightLowerLungZone,
        RightHilarStructures,
        RightApicalZone,
        RightCostophrenicAngle,
        RightHemidiaphragm,
        LeftLung,
        LeftUpperLungZone,
        LeftMidLungZone,
        LeftLowerLungZone,
        LeftHilarStructures,
        LeftApicalZone,
        LeftCostophrenicAngle,
        LeftHemidiaphragm,
        Trachea,
        Spine,
        RightClavicle,
        LeftClavicle,
        AorticArch,
        Mediastinum,
        UpperMediastinum,
        Svc,
        CardiacSilhouette,
        CavoatrialJunction,
        RightAtrium,
        Carina,
        Abdomen,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        REGIONS[self.index()]
    }

    pub fn from_index(index: usize) -> Option<Region> {
        Self::ALL.get(index).copied()
    }

    /// Case-insensitive lookup by Chest ImaGenome name (`bbox_name`).
    pub fn from_name(name: &str) -> Option<Region> {
        let name = name.trim();
        Self::ALL.iter().copied().find(|r| r.name().eq_ignore_ascii_case(name))
    }
}

/// The ten lung positions where parenchymal findings may sit: both lungs and their upper, mid, lower and
/// apical zones (GKMVLP.md calls them "the 12 lung zones" but lists these ten).
pub const LUNG_ZONES: [Region; 10] = [
    RightLung,
    RightUpperLungZone,
    RightMidLungZone,
    RightLowerLungZone,
    RightApicalZone,
    LeftLung,
    LeftUpperLungZone,
    LeftMidLungZone,
    LeftLowerLungZone,
    LeftApicalZone,
];

/// Number of findings (entities) the model grounds.
pub const NUM_ENTITIES: usize = 14;

/// A finding the model grounds (GKMVLP.md, "Vocabularies"). Entity `i` is also ECLS threshold `i` and
/// the `entity` number of a dataset record's findings. Typed like [`Region`], so that a finding cannot be
/// confused with any other index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Entity {
    PleuralEffusion,
    Consolidation,
    Atelectasis,
    LungNodule,
    LungMass,
    Pneumothorax,
    EnlargedCardiacSilhouette,
    PulmonaryEdema,
    EnlargedHilum,
    MediastinalWidening,
    ElevatedHemidiaphragm,
    Hyperaeration,
    EndotrachealTube,
    CentralVenousCatheter,
}

impl Entity {
    /// All entities in vocabulary order.
    pub const ALL: [Entity; NUM_ENTITIES] = [
        Entity::PleuralEffusion,
        Entity::Consolidation,
        Entity::Atelectasis,
        Entity::LungNodule,
        Entity::LungMass,
        Entity::Pneumothorax,
        Entity::EnlargedCardiacSilhouette,
        Entity::PulmonaryEdema,
        Entity::EnlargedHilum,
        Entity::MediastinalWidening,
        Entity::ElevatedHemidiaphragm,
        Entity::Hyperaeration,
        Entity::EndotrachealTube,
        Entity::CentralVenousCatheter,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(index: usize) -> Option<Entity> {
        Self::ALL.get(index).copied()
    }

    /// Chest ImaGenome attribute name, e.g. `pleural effusion`.
    pub fn name(self) -> &'static str {
        match self {
            Entity::PleuralEffusion => "pleural effusion",
            Entity::Consolidation => "consolidation",
            Entity::Atelectasis => "atelectasis",
            Entity::LungNodule => "lung nodule",
            Entity::LungMass => "lung mass",
            Entity::Pneumothorax => "pneumothorax",
            Entity::EnlargedCardiacSilhouette => "enlarged cardiac silhouette",
            Entity::PulmonaryEdema => "pulmonary edema",
            Entity::EnlargedHilum => "enlarged hilum",
            Entity::MediastinalWidening => "mediastinal widening",
            Entity::ElevatedHemidiaphragm => "elevated hemidiaphragm",
            Entity::Hyperaeration => "hyperaeration",
            Entity::EndotrachealTube => "endotracheal tube",
            Entity::CentralVenousCatheter => "central venous catheter",
        }
    }

    /// The name in snake case, e.g. `pleural_effusion`: the `kind` of a dataset record's findings.
    pub fn key(self) -> &'static str {
        match self {
            Entity::PleuralEffusion => "pleural_effusion",
            Entity::Consolidation => "consolidation",
            Entity::Atelectasis => "atelectasis",
            Entity::LungNodule => "lung_nodule",
            Entity::LungMass => "lung_mass",
            Entity::Pneumothorax => "pneumothorax",
            Entity::EnlargedCardiacSilhouette => "enlarged_cardiac_silhouette",
            Entity::PulmonaryEdema => "pulmonary_edema",
            Entity::EnlargedHilum => "enlarged_hilum",
            Entity::MediastinalWidening => "mediastinal_widening",
            Entity::ElevatedHemidiaphragm => "elevated_hemidiaphragm",
            Entity::Hyperaeration => "hyperaeration",
            Entity::EndotrachealTube => "endotracheal_tube",
            Entity::CentralVenousCatheter => "central_venous_catheter",
        }
    }

    /// Case-insensitive lookup by Chest ImaGenome name (surrounding whitespace ignored).
    pub fn from_name(name: &str) -> Option<Entity> {
        let name = name.trim();
        Self::ALL.iter().copied().find(|e| e.name().eq_ignore_ascii_case(name))
    }

    /// Lookup by [`Entity::key`] (exact).
    pub fn from_key(key: &str) -> Option<Entity> {
        Self::ALL.iter().copied().find(|e| e.key() == key)
    }

    /// Regions where the finding is anatomically possible.
    pub fn positions(self) -> &'static [Region] {
        match self {
            Entity::PleuralEffusion => &[
                RightCostophrenicAngle,
                LeftCostophrenicAngle,
                RightLowerLungZone,
                LeftLowerLungZone,
                RightHemidiaphragm,
                LeftHemidiaphragm,
            ],
            Entity::Consolidation => &LUNG_ZONES,
            Entity::Atelectasis => &[RightLowerLungZone, LeftLowerLungZone, RightMidLungZone, LeftMidLungZone],
            Entity::LungNodule => &LUNG_ZONES,
            Entity::LungMass => &LUNG_ZONES,
            Entity::Pneumothorax => {
                &[RightApicalZone, LeftApicalZone, RightUpperLungZone, LeftUpperLungZone, RightLung, LeftLung]
            }
            Entity::EnlargedCardiacSilhouette => &[CardiacSilhouette],
            Entity::PulmonaryEdema => &[RightLung, LeftLung, RightHilarStructures, LeftHilarStructures],
            Entity::EnlargedHilum => &[RightHilarStructures, LeftHilarStructures],
            Entity::MediastinalWidening => &[Mediastinum, UpperMediastinum],
            Entity::ElevatedHemidiaphragm => &[RightHemidiaphragm, LeftHemidiaphragm],
            Entity::Hyperaeration => &[RightLung, LeftLung],
            Entity::EndotrachealTube => &[Trachea, Carina],
            Entity::CentralVenousCatheter => &[Svc, CavoatrialJunction, RightAtrium],
        }
    }
}

/// An entity serialises as its [`Entity::key`], as the simulator's finding kinds always have.
#[cfg(feature = "serde")]
impl serde::Serialize for Entity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.key())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Entity {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        Entity::from_key(&key).ok_or_else(|| {
            let keys: Vec<&str> = Entity::ALL.iter().map(|e| e.key()).collect();
            serde::de::Error::custom(format!("unknown finding `{key}`, expected one of {}", keys.join(", ")))
        })
    }
}

/// Serde helpers that write an entity as its [`Entity::index`] instead of its key, for formats that
/// store the number: `#[serde(with = "gkmvlp_vocab::entity_as_index")]`.
#[cfg(feature = "serde")]
pub mod entity_as_index {
    use super::Entity;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(entity: &Entity, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(entity.index() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Entity, D::Error> {
        let index = usize::deserialize(deserializer)?;
        Entity::from_index(index).ok_or_else(|| serde::de::Error::custom(format!("no entity {index}")))
    }
}

/// One knowledge candidate: an (entity, position) pair that is anatomically possible. The model scores
/// `exist` for every candidate; the candidate list is the same everywhere because it is derived here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    pub entity: Entity,
    pub position: Region,
}

impl Candidate {
    /// The knowledge sentence the text encoder reads, e.g. `pleural effusion at the left costophrenic angle`.
    pub fn sentence(&self) -> String {
        format!("{} at the {}", self.entity.name(), self.position.name())
    }
}

/// Every candidate triplet, entity-major in vocabulary order.
pub fn candidates() -> Vec<Candidate> {
    Entity::ALL
        .iter()
        .flat_map(|&entity| entity.positions().iter().map(move |&position| Candidate { entity, position }))
        .collect()
}

/// Index of a candidate in [`candidates`], if that pair is in the vocabulary.
pub fn candidate_index(entity: Entity, position: Region) -> Option<usize> {
    candidates().iter().position(|c| c.entity == entity && c.position == position)
}

/// The side `positions` lie on, in the words of a report: "right", "left", "both sides" or "midline".
pub fn side_of(positions: &[Region]) -> &'static str {
    let on = |side: &str| positions.iter().any(|r| r.name().starts_with(side));
    match (on("right"), on("left")) {
        (true, true) => "both sides",
        (true, false) => "right",
        (false, true) => "left",
        (false, false) => "midline",
    }
}

/// `positions` as a report names them: a whole lung is left out where one of its zones is there too
/// ("right lower lung zone", not "right lung and right lower lung zone"). Order is kept.
pub fn most_specific(positions: &[Region]) -> Vec<Region> {
    let has_zone = |lung: Region| {
        let side = if lung == RightLung { "right" } else { "left" };
        positions.iter().any(|r| *r != lung && r.name().starts_with(side) && r.name().contains("zone"))
    };
    positions.iter().copied().filter(|&r| !(matches!(r, RightLung | LeftLung) && has_zone(r))).collect()
}

/// Region names as prose: "a", "a and b", "a, b and c".
pub fn join_names(positions: &[Region]) -> String {
    match positions {
        [] => String::new(),
        [only] => only.name().to_string(),
        [rest @ .., last] => {
            format!("{} and {}", rest.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "), last.name())
        }
    }
}

/// Whether a finding is present or absent at a position (the `exist` of a triplet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exist {
    Absent = 0,
    Present = 1,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_enum_matches_names() {
        assert_eq!(Region::ALL.len(), NUM_REGIONS);
        for (i, r) in Region::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(Region::from_name(REGIONS[i]), Some(*r));
        }
        assert_eq!(Region::from_name("Left Costophrenic Angle"), Some(LeftCostophrenicAngle));
        assert_eq!(Region::from_name("left elbow"), None);
    }

    #[test]
    fn candidates_are_unique_and_indexed() {
        let all = candidates();
        assert_eq!(all.len(), Entity::ALL.iter().map(|e| e.positions().len()).sum::<usize>());
        let mut seen = std::collections::HashSet::new();
        for (i, c) in all.iter().enumerate() {
            assert!(seen.insert((c.entity, c.position)), "duplicate {c:?}");
            assert_eq!(candidate_index(c.entity, c.position), Some(i));
        }
        assert_eq!(all[0].sentence(), "pleural effusion at the right costophrenic angle");
        assert_eq!(Entity::from_name(" Lung Nodule "), Some(Entity::LungNodule));
    }

    #[test]
    fn entity_enum_matches_names_and_keys() {
        for (i, e) in Entity::ALL.iter().copied().enumerate() {
            assert_eq!(e.index(), i);
            assert_eq!(Entity::from_index(i), Some(e));
            assert_eq!(Entity::from_name(e.name()), Some(e));
            assert_eq!(Entity::from_key(e.key()), Some(e));
            assert_eq!(e.key(), e.name().replace(' ', "_"));
        }
        assert_eq!(Entity::from_index(NUM_ENTITIES), None);
        assert_eq!(Entity::LungNodule.index(), 3);
        assert_eq!(Entity::from_name("lung elbow"), None);
        assert_eq!(Entity::from_key("Lung_Nodule"), None);
    }

    #[test]
    fn positions_read_as_a_report_names_them() {
        assert_eq!(side_of(&[RightLowerLungZone, RightCostophrenicAngle]), "right");
        assert_eq!(side_of(&[LeftLung]), "left");
        assert_eq!(side_of(&[RightLung, LeftHilarStructures]), "both sides");
        assert_eq!(side_of(&[CardiacSilhouette]), "midline");
        assert_eq!(most_specific(&[RightLung, RightLowerLungZone, LeftLung]), [RightLowerLungZone, LeftLung]);
        assert_eq!(most_specific(&[RightLung, RightApicalZone]), [RightApicalZone]);
        assert_eq!(most_specific(&[RightLung, LeftLowerLungZone]), [RightLung, LeftLowerLungZone]);
        assert_eq!(join_names(&[]), "");
        assert_eq!(join_names(&[LeftLung]), "left lung");
        assert_eq!(join_names(&[RightMidLungZone, LeftMidLungZone]), "right mid lung zone and left mid lung zone");
        assert_eq!(join_names(&[RightLung, Trachea, Carina]), "right lung, trachea and carina");
    }
}
