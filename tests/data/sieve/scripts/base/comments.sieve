/* a bracket comment
   over lines */ require /* inline */ "fileinto"; # trailing
# a hash comment
if /* here */ header :contains "subject" "meeting" # hmm
{ fileinto "commented"; } /* end */
