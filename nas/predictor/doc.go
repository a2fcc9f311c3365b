// Package predictor is the accuracy predictor of AttentiveNAS (Wang et al.,
// CVPR 2021; ALGORITHM.md section 8): a regression model fitted on
// (Arch vector -> held-out top-1 accuracy) pairs of subnets evaluated with
// real BN recalibration, used to rank architectures cheaply. Evolution
// (section 9) uses it as the fitness that shortlists candidates; the
// attentive sampler (section 6) may use it to score its k candidates per
// training step. Predictions are for ranking, so models are judged by
// Kendall tau on pairs they were not fitted on.
//
// The pieces:
//
//   - Encoder maps a space.Arch to features (the Arch vector, plus MFLOPs
//     and MParams by default) and Decode maps them back.
//   - Three models behind one interface, Model: Forest, the reference's
//     random forest (scikit-learn RandomForestRegressor, 100 trees, depth
//     15), GBT (gradient-boosted trees) and Ridge (ridge regression on
//     one-hot genes). Fit, FitForest, FitGBT, FitRidge fit them,
//     deterministically from a *rand.Rand the caller seeds.
//   - Marshal and Unmarshal: a versioned, checksummed binary form for the
//     BYTE_ARRAY column of predictors/<run>.parquet; exact round trip.
//   - KendallTau, Spearman, RMSE, R2, and Evaluate / EvaluateAll, which
//     hold pairs out, report the metrics and refit on everything.
//
// A use (see Example for the whole program):
//
//	enc, _ := predictor.NewEncoder(sp, predictor.DefaultEncoderOptions())
//	// X[i], _ = enc.Encode(arch[i]); y[i] = its measured accuracy
//	results, _ := predictor.EvaluateAll(nil, X, y, predictor.Config{}, 0.25, rng)
//	fmt.Println(results[0].Report)
//	// random_forest: tau 0.609 rho 0.796 rmse 0.0032 r2 0.67 (fit 300, held out 100)
//	blob, _ := predictor.Marshal(results[0].Model) // refitted on all 400 pairs
//
// Measured on the synthetic benchmark of the tests (1,000 uniform subnets
// of configs/fmnist.json, accuracy linear in log FLOPs plus gene effects
// and an interaction, noise 0.003; 2,000 fresh test subnets), held-out
// Kendall tau: random_forest 0.68, gbt 0.71, ridge 0.69, against 0.57 for
// the FLOPs rank alone and 0.72 for the noiseless truth (the ceiling the
// noise leaves). On this project's 2-core machine, quiet, fitting 1,000
// pairs takes 52 ms for the forest (115 ms on one core), 90 ms for GBT and
// 27 ms for ridge (leave-one-out over 13 penalties included); Predict takes
// about 10 us for the forest (it walks 100 trees about 11 deep), 5 us for
// GBT and 60 ns for ridge, without allocating (BenchmarkFit,
// BenchmarkPredict). Under load these grow 2-4x.
//
// See also nas/space (the Arch vector and the cost model), nas/evolution
// and nas/sampler (the callers), and ALGORITHM.md sections 6, 8 and 9.
package predictor
