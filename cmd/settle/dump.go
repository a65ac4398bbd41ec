package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/parquetfile"
)

func newDumpCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "dump FILE.parquet",
		Short: "Print a Parquet file of settlement_lines as JSON Lines",
		Example: `  settle dump settle-data/processed/settlement_lines/settlement_date=2024-05-03/adyen_AcmeShopNL_57.parquet
  settle dump FILE.parquet | jq -r .net_amount`,
		Args: exactArgs(1, "name one Parquet file"),
		RunE: runE(func(cmd *cobra.Command, args []string) error { return runDump(a, args[0]) }),
	}
}

// parquetMagic begins and ends every Parquet file.
var parquetMagic = []byte("PAR1")

func runDump(a *app, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("dump: %s is a folder; name one of the .parquet files under it", path)
	}
	head, tail := make([]byte, 4), make([]byte, 4)
	_, err1 := f.ReadAt(head, 0)
	_, err2 := f.ReadAt(tail, fi.Size()-4)
	if fi.Size() < 12 || err1 != nil || err2 != nil || !bytes.Equal(head, parquetMagic) || !bytes.Equal(tail, parquetMagic) {
		return fmt.Errorf("dump: %s is not a Parquet file (a Parquet file begins and ends with PAR1); the pipeline's are under %s/processed/settlement_lines/", path, DefaultData)
	}
	bw := bufio.NewWriter(a.stdout)
	defer bw.Flush()
	return parquetfile.Dump(f, nil, func(line []byte) error {
		bw.Write(line)
		return bw.WriteByte('\n')
	})
}
