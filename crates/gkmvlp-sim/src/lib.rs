//! Chest radiograph simulator.
