// Package onnxexport turns an exported subnet (an infer.Model: a subnet's
// weights with BatchNorm folded into its convolutions) into a standard
// ONNX model, and describes, op by op, the network its Parquet form holds.
//
// Describe walks the model's space.Plan, as the inference engine does, into
// a Layout: the ops of the forward pass over named values, each weight named
// as its row in the Parquet file with its stored axes (the stem's
// [kh, kw, cin, cout], depthwise [kh, kw, c], pointwise and linear
// [in, out]), where every activation applies, the shortcut rules (2x2
// average pool with padding size%2 and divisor 4, a bias-free 1x1 conv),
// the resize (bilinear, align_corners=False) and the float32 normalisation.
// The export stage stores it in the Parquet file's metadata. Build turns a
// Layout and the tensors into an ONNX graph (opset 13) that takes what a
// user has, float32 pixels in [0, 1] as [N, C, S, S] at the dataset's own
// size, and returns logits [N, classes]; since Build reads only the Layout
// and the tensors, running the ONNX model in ONNX Runtime (package
// ortcheck) also checks that the description is complete and right.
//
//	onnxBytes, err := onnxexport.Export(model, map[string]string{"val_top1": "0.7560"})
//	// onnxBytes: an ONNX ModelProto; input "pixels" [N, 1, 28, 28], output "logits" [N, 10],
//	// metadata_props arch, flops, params, space, ... and val_top1
//
// The protobuf types come from github.com/advancedclimatesystems/gonnx/onnx
// (generated from onnx.proto3 by protoc-gen-go). The package imports no
// Beam.
//
// See also: infer.Model, infer.LoadModel (the Parquet tensors),
// stages.ExportModel (which writes both files).
package onnxexport
