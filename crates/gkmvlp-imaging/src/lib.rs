//! Radiograph decoding: PNG, JPEG and DICOM into one grey image type.
