// Package data is the dataset layer: decoders for the raw files of image
// classification datasets, deterministic train/calib/val/test splits,
// per-channel statistics, normalisation and training-time augmentation.
//
// Decoders read an io.Reader (the preprocess stage opens files through
// Beam's filesystem) and a name used in errors:
//
//   - [DecodeIDX]: MNIST / Fashion-MNIST IDX image and label files, raw or gzip;
//   - [DecodeCIFAR10]: CIFAR-10 binary batches, raw or gzip;
//   - [FolderClasses] and [DecodeImage]: class-per-folder PNG/JPEG trees.
//
// They follow image/png: lengths and dimension products are checked before
// anything is allocated, gzip checksums are verified, a decoder returns a
// value or an error (never both) and never panics. Invalid input is a
// [*FormatError], valid input this package does not handle an
// [*UnsupportedError]; both name the file and, where it applies, the record
// and the field, and wrap sentinels such as [ErrTruncated] for errors.Is.
// An error from the reader itself is returned wrapped, with the file name.
//
// Images are bytes in HWC order (height, width, channels), as in [Dataset].
// [Normalize] turns them into float32 inputs with the mean and std of a
// [ChannelStats], and [Augment] flips and shifts those inputs.
//
//	ds, err := data.DecodeIDX(images, labels, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 10)
//	fmt.Println(ds.Len(), ds.Height, ds.Width, ds.Channels) // 60000 28 28 1
//
// See also ARCHITECTURE.md (the preprocess stage) and ALGORITHM.md section 7
// (BN recalibration uses the calib split).
package data
