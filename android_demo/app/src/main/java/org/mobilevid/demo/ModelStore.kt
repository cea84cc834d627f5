package org.mobilevid.demo

import android.content.Context
import android.net.Uri
import android.provider.OpenableColumns
import java.io.File

/**
 * Where the demo looks for exported models (each `X.pte` with its sidecar `X.pte.json`):
 *
 * 1. `filesDir/models/`: files picked in the app ("Model…") are copied here;
 * 2. `getExternalFilesDir("models")` = `/sdcard/Android/data/org.mobilevid.demo/files/models/`:
 *    `adb push` works there without root, and the app may list it;
 * 3. any path passed as the `model` extra (e.g. `/data/local/tmp/mobilevid/X.pte`, where
 *    `mobilevid bench` pushes; that folder can be read by path but not listed by apps).
 */
object ModelStore {
    fun dirs(context: Context): List<File> =
        listOfNotNull(File(context.filesDir, "models"), context.getExternalFilesDir("models"))

    /** Every .pte in the model folders, newest first. */
    fun models(context: Context): List<File> =
        dirs(context)
            .flatMap { it.listFiles { f -> f.isFile && f.name.endsWith(".pte") }?.toList() ?: emptyList() }
            .sortedByDescending { it.lastModified() }

    /**
     * Copies picked documents (the .pte and its .pte.json, chosen together) into
     * `filesDir/models/`, keeping their names; returns the .pte files copied.
     */
    fun import(context: Context, uris: List<Uri>): List<File> {
        val dir = File(context.filesDir, "models").apply { mkdirs() }
        val copied = mutableListOf<File>()
        for (uri in uris) {
            val name = displayName(context, uri)
                ?: throw IllegalArgumentException("cannot tell the name of $uri")
            if (!name.endsWith(".pte") && !name.endsWith(".pte.json")) {
                throw IllegalArgumentException("$name is neither a .pte nor a .pte.json sidecar")
            }
            val target = File(dir, File(name).name)
            val tmp = File(dir, target.name + ".part")
            context.contentResolver.openInputStream(uri).use { input ->
                requireNotNull(input) { "cannot open $name" }
                tmp.outputStream().use { input.copyTo(it) }
            }
            if (!tmp.renameTo(target)) throw IllegalStateException("cannot write $target")
            if (name.endsWith(".pte")) copied += target
        }
        return copied
    }

    private fun displayName(context: Context, uri: Uri): String? =
        context.contentResolver.query(uri, arrayOf(OpenableColumns.DISPLAY_NAME), null, null, null)
            ?.use { c -> if (c.moveToFirst()) c.getString(0) else null }
}
