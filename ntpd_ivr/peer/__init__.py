"""One center on two nodes: a controller follows its peer node's AMI for the screens only
(docs/ha.md, "The screens see one center")."""
