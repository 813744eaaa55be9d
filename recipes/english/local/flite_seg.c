/* flite_seg VOICE OUTDIR < "ID<TAB>text" lines: for each line write OUTDIR/ID.wav (RIFF, the voice's rate) and
   OUTDIR/ID.seg ("end_seconds name" per item of the utterance's Segment relation): flite's own phone times,
   which its command line does not print. VOICE: rms, slt, awb or kal16 (Debian's libflite1 voices).
   Built by synthesize.py: cc -O2 flite_seg.c -lflite_cmu_us_{rms,slt,awb,kal16} -lflite_usenglish -lflite_cmulex -lflite -lm */
#include <stdio.h>
#include <string.h>
#include "flite.h"
cst_voice *register_cmu_us_rms(const char *);
cst_voice *register_cmu_us_awb(const char *);
cst_voice *register_cmu_us_slt(const char *);
cst_voice *register_cmu_us_kal16(const char *);

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: flite_seg VOICE OUTDIR < ID<TAB>text\n"); return 2; }
    flite_init();
    cst_voice *v = NULL;
    if (!strcmp(argv[1], "rms")) v = register_cmu_us_rms(NULL);
    else if (!strcmp(argv[1], "awb")) v = register_cmu_us_awb(NULL);
    else if (!strcmp(argv[1], "slt")) v = register_cmu_us_slt(NULL);
    else if (!strcmp(argv[1], "kal16")) v = register_cmu_us_kal16(NULL);
    if (!v) { fprintf(stderr, "flite_seg: unknown voice %s\n", argv[1]); return 2; }
    char line[8192], path[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        cst_utterance *u = flite_synth_text(tab + 1, v);
        cst_wave *w = utt_wave(u);
        snprintf(path, sizeof path, "%s/%s.wav", argv[2], line);
        if (cst_wave_save_riff(w, path) < 0) { fprintf(stderr, "flite_seg: cannot write %s\n", path); return 1; }
        snprintf(path, sizeof path, "%s/%s.seg", argv[2], line);
        FILE *f = fopen(path, "w");
        if (!f) { fprintf(stderr, "flite_seg: cannot write %s\n", path); return 1; }
        for (cst_item *s = relation_head(utt_relation(u, "Segment")); s; s = item_next(s))
            fprintf(f, "%.6f %s\n", item_feat_float(s, "end"), item_feat_string(s, "name"));
        fclose(f);
        delete_utterance(u);
    }
    return 0;
}
