require ["editheader", "fileinto"];
if header :contains "X-Sieve-Filtered"
        ["<kim@job.example.com>", "<kim@home.example.com>"]
{
        keep;
        stop;
}
addheader "X-Sieve-Filtered" "<kim@job.example.com>";
if header :contains "X-Sieve-Filtered" "kim@job" { fileinto "tagged"; }
