//! GK-MVLP model.
