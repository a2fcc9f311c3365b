package onnxexport_test

import (
	"fmt"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/attentivenas/attentivenas/configs"
	"github.com/attentivenas/attentivenas/nas/infer"
	"github.com/attentivenas/attentivenas/nas/onnxexport"
	"github.com/attentivenas/attentivenas/nas/space"
	"github.com/attentivenas/attentivenas/nas/supernet"
)

// Export the reference space's smallest subnet of a fresh supernet as ONNX
// and read back what a runtime sees.
func ExampleExport() {
	sp, _ := space.Parse(configs.FMNIST, configs.FMNISTName)
	arch := sp.Min()
	sn := supernet.New(sp, 1)
	calib := make([]float32, 8*28*28) // 8 normalised images
	for i := range calib {
		calib[i] = float32(i%28) / 14
	}
	stats, _ := infer.Recalibrate(sn, arch, calib, infer.RecalConfig{})
	model, _ := infer.Fold(sn, arch, stats)
	model.Mean, model.Std = []float64{0.286}, []float64{0.353}

	b, err := onnxexport.Export(model, map[string]string{"val_top1": "0.7025"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var m onnx.ModelProto
	_ = proto.Unmarshal(b, &m)
	props := map[string]string{}
	for _, kv := range m.MetadataProps {
		props[kv.Key] = kv.Value
	}
	in, out := m.Graph.Input[0], m.Graph.Output[0]
	fmt.Println("opset", m.OpsetImport[0].Version)
	fmt.Println("input", in.Name, in.Type.GetTensorType().Shape.Dim[1].GetDimValue(), in.Type.GetTensorType().Shape.Dim[2].GetDimValue())
	fmt.Println("output", out.Name, out.Type.GetTensorType().Shape.Dim[1].GetDimValue())
	fmt.Println("arch", props["arch_key"], "flops", props["flops"], "val_top1", props["val_top1"])
	// Output:
	// opset 13
	// input pixels 1 28
	// output logits 10
	// arch 24-8-8-16-24-32-128-1-1-1-1-3-3-3-3-1-3-3-4 flops 729248 val_top1 0.7025
}
