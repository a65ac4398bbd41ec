package main

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/paysettle/settle/internal/cloud"
	"github.com/paysettle/settle/internal/icetable"
	"github.com/paysettle/settle/internal/store"
	"github.com/paysettle/settle/internal/workflow"
)

// newTableCmd is `settle table`: the Iceberg table of record.
func newTableCmd(a *app, t *target) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "table",
		Short: "The Iceberg table settlement_lines: a batch's history, the table as of a time, sync, maintenance",
		Long: `settlement_lines is an Apache Iceberg table (format v2) in the processed bucket, under ` + workflow.TablePrefix + `/.
Each batch version is committed in one snapshot; a replace takes the old version out and puts the new one
in in the same snapshot, so a reader of the table sees the batch before or after, never both or neither.
Every snapshot kept (` + fmt.Sprint(icetable.DefaultRetention.Hours()/24) + ` days by default) can be read again: time travel.`,
		Example: `  ` + t.prefix() + ` table history --merchant AcmeShopNL --batch 57
  ` + t.prefix() + ` table as-of 2024-12-31T23:59:59Z
  ` + t.prefix() + ` table rebuild --dry-run
  ` + t.prefix() + ` table maintain --dry-run`,
	}
	cmd.AddCommand(newTableHistoryCmd(a, t), newTableAsOfCmd(a, t), newTableSyncCmd(a, t), newTableRebuildCmd(a, t), newTableMaintainCmd(a, t))
	return cmd
}

// openTable is the target's Iceberg table, its processed bucket, and the target's words for what it prints.
func openTable(ctx context.Context, t *target) (*icetable.Table, store.Bucket, words, error) {
	op, err := t.open(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := op.Processed()
	if err != nil {
		return nil, nil, nil, err
	}
	if op.stack == nil {
		return icetable.Open(b), b, op.words, nil
	}
	home, err := op.stack.TableHome(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return icetable.In(home), b, op.words, nil
}

func newTableHistoryCmd(a *app, t *target) *cobra.Command {
	var merchant, provider string
	var batch int64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "history --merchant ACCOUNT --batch N",
		Short: "List a batch's versions in the table: when each was committed, from which file, what it replaced",
		Example: `  ` + t.prefix() + ` table history --merchant AcmeShopNL --batch 3
  ` + t.prefix() + ` table history --merchant AcmeShopNL --batch 3 --json`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if merchant == "" || batch <= 0 {
				return usageError("%s table history: pass --merchant and --batch", t.prefix())
			}
			tab, _, say, err := openTable(cmd.Context(), t)
			if err != nil {
				return err
			}
			hist, version, err := tab.History(cmd.Context(), provider, merchant, batch)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, hist)
			}
			if len(hist) == 0 {
				fmt.Fprintf(a.stdout, "The table (version %d) keeps no commit of %s batch %d.\n", version, merchant, batch)
				return nil
			}
			versions := "versions"
			if len(hist) == 1 {
				versions = "version"
			}
			fmt.Fprintf(a.stdout, "%s batch %d: %d %s in the table (version %d).\n\n", merchant, batch, len(hist), versions, version)
			w := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "SNAPSHOT\tCOMMITTED\tREVISION\tSOURCE\tETAG\tEXECUTION\tSTATE")
			for i, c := range hist {
				state := "current"
				switch {
				case !c.Current && i+1 < len(hist):
					state = "replaced by revision " + fmt.Sprint(hist[i+1].Revision)
				case !c.Current:
					state = "not current"
				}
				fmt.Fprintf(w, "%d\t%s\t%d\t%s\t%s\t%s\t%s\n", c.Snapshot, c.At.Format(time.RFC3339), c.Revision, say.text(c.Source), c.ETag, c.Execution, state)
			}
			return w.Flush()
		}),
	}
	t.flags(cmd)
	cmd.Flags().StringVar(&merchant, "merchant", "", "the batch's merchant account")
	cmd.Flags().Int64Var(&batch, "batch", 0, "the batch number")
	cmd.Flags().StringVar(&provider, "provider", "adyen", "the batch's provider")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the versions as one JSON array")
	return cmd
}

func newTableAsOfCmd(a *app, t *target) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "as-of TIME",
		Short: "Describe the table as it was at a time: its snapshot then, files, rows and the query that reads it",
		Example: `  ` + t.prefix() + ` table as-of 2024-12-31T23:59:59Z
  ` + t.prefix() + ` table as-of now`,
		Args: cobra.ExactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			moment, err := parseTime("TIME", args[0], a.now())
			if err != nil {
				return err
			}
			tab, _, say, err := openTable(cmd.Context(), t)
			if err != nil {
				return err
			}
			s, err := tab.AsOf(cmd.Context(), moment)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, s)
			}
			fmt.Fprintf(a.stdout, "As of %s the table was at snapshot %d (committed %s%s): %s, %d rows.\n",
				moment.Format(time.RFC3339), s.Snapshot, s.At.Format(time.RFC3339), map[bool]string{true: ", the current one", false: ""}[s.Current], plural(s.Files, "data file", "data files"), s.Rows)
			if s.Merchant != "" {
				fmt.Fprintf(a.stdout, "That snapshot committed %s batch %d from %s.\n", s.Merchant, s.Batch, say.text(s.Source))
			}
			name := athenaName(tab.Home)
			fmt.Fprintf(a.stdout, "Read it with: SELECT * FROM %s FOR TIMESTAMP AS OF TIMESTAMP '%s UTC'  (Athena)\n", name, moment.Format("2006-01-02 15:04:05.000"))
			fmt.Fprintf(a.stdout, "          or: SELECT * FROM %s FOR VERSION AS OF %d\n", name, s.Snapshot)
			return nil
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the snapshot as one JSON object")
	return cmd
}

func newTableSyncCmd(a *app, t *target) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Commit to the table every manifest's version it does not hold yet",
		Long: `The write step commits each batch to the table right after its manifest. A crash between the two, or
batches committed before the table existed, leave the table behind its manifests (settle verify says
which); sync commits them, one snapshot per batch, through the same compare-and-swap.`,
		Example: `  ` + t.prefix() + ` table sync`,
		Args:    noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			tab, b, _, err := openTable(cmd.Context(), t)
			if err != nil {
				return err
			}
			res, err := workflow.SyncTable(cmd.Context(), b, tab)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, res)
			}
			fmt.Fprintf(a.stdout, "Committed %d batches to the table, replaced %d, %d already there.\n", res.Added, res.Replaced, res.Unchanged)
			for _, s := range res.Skipped {
				fmt.Fprintln(a.stdout, "Skipped "+s)
			}
			if len(res.Skipped) > 0 {
				return failed("%d manifests could not be committed to the table", len(res.Skipped))
			}
			return nil
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as one JSON object")
	return cmd
}

func newTableRebuildCmd(a *app, t *target) *cobra.Command {
	var dry, asJSON bool
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Write the manifests and ledgers the processed bucket lacks from the table's committed snapshots",
		Long: `The table holds everything a manifest says: each data file's footer carries the part its report
decides (counts, totals, warnings, source), the table's index the version (file, rows, revision,
arrival), and the snapshot that added it what its commit decided (execution, what a replace replaced).
rebuild writes every manifest the processed bucket lacks from the table, copies a missing partition
object of settlement_lines/ back from the table's data file first, and then writes the ledgers again
from the manifests. A manifest that exists is never changed: one that commits another version than the
table is listed (settle verify says which to trust). The rejected rows and validation reports are not in
the table: a manifest written again names them where they were.`,
		Example: `  ` + t.prefix() + ` table rebuild --dry-run
  ` + t.prefix() + ` table rebuild`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			tab, b, say, err := openTable(cmd.Context(), t)
			if err != nil {
				return err
			}
			res, err := workflow.RebuildManifests(cmd.Context(), b, tab, dry)
			if err != nil {
				return err
			}
			out := struct {
				workflow.ManifestRebuild
				Ledgers *workflow.RebuildResult `json:"ledgers,omitempty"`
				// LedgersLeft says why the ledgers were not rebuilt.
				LedgersLeft string `json:"ledgersLeft,omitempty"`
			}{ManifestRebuild: res}
			issues := len(res.Differ) + len(res.Skipped)
			switch {
			case dry:
			case issues > 0:
				// The ledgers follow from the manifests: rebuilt now, they would lose the batches whose
				// manifest is missing or unreadable.
				out.LedgersLeft = fmt.Sprintf("the ledgers were not rebuilt: they follow from the manifests, and %s above would be taken out of them; resolve them, then: %s",
					plural(issues, "batch", "batches"), say.command("ledger --rebuild"))
			default:
				led, err := workflow.RebuildLedgers(cmd.Context(), b)
				if err != nil {
					out.LedgersLeft = "the ledgers were not rebuilt: " + say.text(err.Error())
				} else {
					out.Ledgers = &led
				}
			}
			if asJSON {
				if err := printJSON(a.stdout, out); err != nil {
					return err
				}
			} else {
				printRebuild(a, say, out.ManifestRebuild, dry)
				switch {
				case out.Ledgers != nil:
					fmt.Fprintf(a.stdout, "Rebuilt the ledgers of %s from %s: %d missing or different, written.\n",
						plural(out.Ledgers.Accounts, "merchant account", "merchant accounts"), plural(out.Ledgers.Batches, "manifest", "manifests"), out.Ledgers.Rewritten)
				case out.LedgersLeft != "":
					fmt.Fprintln(a.stdout, strings.ToUpper(out.LedgersLeft[:1])+out.LedgersLeft[1:]+".")
				}
			}
			switch {
			case issues > 0:
				return failed("%s of the table left unchanged", plural(issues, "batch", "batches"))
			case out.LedgersLeft != "":
				return failed("%s", out.LedgersLeft)
			}
			return nil
		}),
	}
	t.flags(cmd)
	cmd.Flags().BoolVar(&dry, "dry-run", false, "say what would be written, change nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was done as one JSON object")
	return cmd
}

// printRebuild says what table rebuild did, in the target's words.
func printRebuild(a *app, say words, res workflow.ManifestRebuild, dry bool) {
	written, copied := "written", "copied back"
	if dry {
		written, copied = "would be written", "would be copied back"
	}
	if res.Batches == 0 {
		fmt.Fprintln(a.stdout, "The table holds no batch: it has no commit yet, or its metadata is gone (settle verify says which).")
		return
	}
	fmt.Fprintf(a.stdout, "The table holds %s: %s already %s its version, %d %s from it.\n",
		plural(res.Batches, "batch", "batches"), plural(res.Same, "manifest", "manifests"), map[bool]string{true: "holds", false: "hold"}[res.Same == 1], len(res.Written), written)
	for _, k := range res.Written {
		fmt.Fprintln(a.stdout, "  "+say.output(k))
	}
	if n := len(res.Republished); n > 0 {
		fmt.Fprintf(a.stdout, "%s %s from the table's data files:\n", plural(n, "partition object", "partition objects"), copied)
		for _, k := range res.Republished {
			fmt.Fprintln(a.stdout, "  "+say.output(k))
		}
	}
	if res.Expired > 0 {
		fmt.Fprintf(a.stdout, "%s no execution: the table no longer keeps the snapshot of its commit.\n", plural(res.Expired, "manifest names", "manifests name"))
	}
	for _, group := range []struct {
		what   string
		issues []workflow.RebuildIssue
	}{{"Differs", res.Differ}, {"Left", res.Skipped}} {
		for _, is := range group.issues {
			fmt.Fprintf(a.stdout, "%s: %s\n    %s\n    To resolve: %s", group.what, say.output(is.Key), sayKeys(say, is.Detail), is.Remedy)
			if is.Command != "" {
				fmt.Fprintf(a.stdout, ": %s", commandLine(say, is.Command))
			}
			fmt.Fprintln(a.stdout)
		}
	}
}

// sayKeys is a message of the pipeline in the target's words, with the processed bucket's keys it names
// (settlement_lines/…, iceberg/…) written as the target names them.
func sayKeys(say words, s string) string {
	f := strings.Fields(s)
	for i, w := range f {
		for _, prefix := range []string{workflow.LinesPrefix, workflow.TablePrefix + "/"} {
			if strings.HasPrefix(w, prefix) {
				f[i] = say.output(w)
			}
		}
	}
	return say.text(strings.Join(f, " "))
}

func newTableMaintainCmd(a *app, t *target) *cobra.Command {
	var retention, orphans string
	var dry, asJSON bool
	cmd := &cobra.Command{
		Use:   "maintain",
		Short: "Expire snapshots older than the retention and delete the files no kept snapshot needs",
		Long: `maintain expires the snapshots older than --retention (the current one always stays: a batch
committed long ago stays in the table; only its superseded versions become unreadable), deletes the
manifests and data files only they referenced, and deletes data files older than --orphans that no
snapshot ever referenced (a version that lost its batch to another). Time travel reaches back as far as
the retention: keep it past your audits' horizon.`,
		Example: `  ` + t.prefix() + ` table maintain --dry-run
  ` + t.prefix() + ` table maintain --retention 400d`,
		Args: noArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			keep, ok := parseDays(retention)
			if !ok {
				return usageError("--retention %q is not a duration: write 400d or 9600h", retention)
			}
			age, ok := parseDays(orphans)
			if !ok {
				return usageError("--orphans %q is not a duration: write 15d", orphans)
			}
			tab, _, _, err := openTable(cmd.Context(), t)
			if err != nil {
				return err
			}
			m, err := tab.Maintain(cmd.Context(), keep, age, dry)
			if errors.Is(err, icetable.ErrMaintainedByCatalog) {
				fmt.Fprintln(a.stdout, "Nothing to do: "+err.Error()+".")
				return nil
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(a.stdout, m)
			}
			verb := "Expired"
			if dry {
				verb = "Would expire"
			}
			fmt.Fprintf(a.stdout, "%s %d snapshots older than %s, keeping %d; %d files no kept snapshot needs%s.\n", verb, m.ExpiredSnapshots, retention, m.KeptSnapshots,
				len(m.RemovedFiles), map[bool]string{true: " would be deleted", false: " deleted"}[dry])
			for _, f := range m.RemovedFiles {
				fmt.Fprintln(a.stdout, "  "+strings.TrimPrefix(f, tab.Home.Location+"/"))
			}
			return nil
		}),
	}
	t.flags(cmd)
	cmd.Flags().StringVar(&retention, "retention", fmt.Sprintf("%dd", int(icetable.DefaultRetention.Hours()/24)), "expire snapshots older than this (time travel reaches this far back)")
	cmd.Flags().StringVar(&orphans, "orphans", fmt.Sprintf("%dd", int(icetable.DefaultOrphanAge.Hours()/24)), "delete unreferenced data files older than this")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "say what would be expired and deleted, change nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	return cmd
}

// athenaName is how Athena names the table at home: through the s3tablescatalog catalog for an S3 Tables
// table, by its Glue-style name otherwise.
func athenaName(home workflow.TableHome) string {
	if c, ok := home.Catalog.(*cloud.S3Tables); ok {
		return fmt.Sprintf(`"s3tablescatalog/%s"."%s"."%s"`, path.Base(c.BucketARN), c.Namespace, c.Name)
	}
	return icetable.Namespace + ".settlement_lines"
}
