// Package configs embeds the reference search space shipped with the
// project, the default of every command's --space flag.
package configs

import _ "embed"

// FMNIST is configs/fmnist.json: the reference MobileNetV3-style space for
// 28x28 grayscale images (0.73 to 14.5 MMACs per image).
//
//go:embed fmnist.json
var FMNIST []byte

// FMNISTName is how the embedded space is named in messages and records.
const FMNISTName = "configs/fmnist.json (built in)"
