package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newLedgerCmd(a *app, t *target) *cobra.Command {
	var rebuild, asJSON bool
	cmd := &cobra.Command{
		Use:   "ledger --rebuild",
		Short: "Write every merchant account's batch ledger again from the manifests",
		Long: `The batch ledgers are derived from the manifests (the commit markers). ledger --rebuild writes each
again from them: after a manifest was restored by hand, or a commit whose ledger update failed.`,
		Example: `  ` + t.prefix() + ` ledger --rebuild
  ` + t.prefix() + ` ledger --rebuild --json`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if !rebuild {
				return usageError("%s ledger: pass --rebuild (%s batches shows the ledgers)", t.prefix(), t.prefix())
			}
			op, err := t.open(cmd.Context())
			if err != nil {
				return err
			}
			res, err := op.RebuildLedgers(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, res)
			}
			fmt.Fprintf(a.stdout, "Rebuilt the ledgers of %d merchant accounts from %d manifests: %d differed and were rewritten, %d without manifests removed.\n",
				res.Accounts, res.Batches, res.Rewritten, res.Removed)
			return nil
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&rebuild, "rebuild", false, "write every merchant account's ledger again from the manifests")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts of the rebuild as one JSON object")
	return cmd
}
