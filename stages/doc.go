// Package stages holds the Beam composites of the AttentiveNAS pipeline, one
// file and one exported composite per stage, each reading and writing
// Parquet artifacts under an output root (local or gs://) through package
// pqio. DoFns are registered in init, take their configuration in exported
// fields and read no flags or globals, so every stage runs on prism, on the
// direct runner and on Dataflow workers.
//
// Preprocess is the first stage: it decodes a raw dataset, splits it and
// writes the examples and their statistics.
//
//	p, s := beam.NewPipelineWithRoot()
//	out := stages.Preprocess(s, stages.DefaultPreprocessConfig("/usr/share/datasets/fashion-mnist", "out"))
//	train := pqio.Read[schemas.Example](s, out.Train) // waits for the train shards
//	_ = train
//	err := beamx.Run(ctx, p)
//
// leaves, for Fashion-MNIST with the defaults (5,000 val, 2,000 calib, seed 1):
//
//	out/examples/train-00000-of-00001.parquet   53,000 schemas.Example rows
//	out/examples/calib-00000-of-00001.parquet    2,000
//	out/examples/val-00000-of-00001.parquet      5,000
//	out/examples/test-00000-of-00001.parquet    10,000
//	out/dataset/stats.parquet                    4 schemas.DatasetStats rows (train mean 0.2860, std 0.3531)
//
// The number of shards per split follows the runner's bundling. See also
// ARCHITECTURE.md (stages and artifacts) and package pqio.
package stages
