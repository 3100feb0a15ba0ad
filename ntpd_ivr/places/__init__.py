"""Every regency's places: province, kab/kota, kecamatan and desa/kelurahan names with their
Kemendagri codes, imported from the idn-area-data package (docs/places.md) into a generated
file next to the routing config, which the routing config reads for its regions' pick
lists."""
